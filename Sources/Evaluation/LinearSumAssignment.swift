// LinearSumAssignment: the exact minimum-cost assignment of a rectangular cost matrix, with the same answer as
// scipy.optimize.linear_sum_assignment (scipy/optimize/rectangular_lsap: the shortest augmenting path method of
// D. F. Crouse, "On implementing 2D rectangular assignment algorithms", IEEE TAES 52(4), 2016), including which
// optimum it picks among equal ones, since the DAVIS toolkit's per-object numbers depend on it.
//
// The rules that decide ties, as scipy has them:
//   - a tall matrix (more rows than columns) is solved transposed, then the pairs are ordered by row;
//   - rows are added one at a time, each by the shortest augmenting path from it (Dijkstra over the reduced costs
//     cost − u − v); the columns still to scan are kept in a list first filled in reverse (n−1, …, 0) and an
//     extracted one is replaced by the list's last, and among equally short columns one that is free wins, else
//     the first met.

/// The minimum-cost assignment of rows to columns (scipy's `linear_sum_assignment`).
public enum LinearSumAssignment {
    /// A cost matrix that cannot be assigned.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// Some entry is NaN or −∞, or rows have unlike lengths.
        case invalid(String)
        /// No assignment of finite cost exists (too many +∞ entries).
        case infeasible

        public var description: String {
            switch self {
            case let .invalid(why): return "assignment: the cost matrix is invalid: \(why)"
            case .infeasible: return "assignment: the cost matrix is infeasible (no assignment of finite cost)"
            }
        }
    }

    /// Pairs `(rows[k], columns[k])`, min(n, m) of them, of least total `cost[row][column]` for an n×m matrix;
    /// ordered by row, as scipy returns them.
    ///
    ///     LinearSumAssignment.solve([[4, 1, 3], [2, 0, 5], [3, 2, 2]])   // rows [0, 1, 2], columns [1, 0, 2]
    public static func solve(_ cost: [[Double]]) throws -> (rows: [Int], columns: [Int]) {
        let n = cost.count
        guard n > 0, let m = cost.first?.count, m > 0 else { return ([], []) }
        guard cost.allSatisfy({ $0.count == m }) else { throw Failure.invalid("rows of unlike lengths") }
        guard !cost.joined().contains(where: { $0.isNaN || $0 == -.infinity }) else {
            throw Failure.invalid("an entry is NaN or -inf")
        }
        if m < n {
            // Tall: assign the columns of the transpose, then list the pairs by (original) row.
            let transposed = (0..<m).map { j in (0..<n).map { i in cost[i][j] } }
            let columnOfRow = try assign(transposed)                 // for each original column, its row
            let order = columnOfRow.indices.sorted { columnOfRow[$0] < columnOfRow[$1] }
            return (order.map { columnOfRow[$0] }, order)
        }
        return (Array(0..<n), try assign(cost))
    }

    /// For an n×m matrix with n ≤ m: the column of each row.
    static func assign(_ cost: [[Double]]) throws -> [Int] {
        let n = cost.count, m = cost[0].count
        var u = [Double](repeating: 0, count: n), v = [Double](repeating: 0, count: m)
        var columnOfRow = [Int](repeating: -1, count: n), rowOfColumn = [Int](repeating: -1, count: m)
        var path = [Int](repeating: -1, count: m)
        var distance = [Double](repeating: .infinity, count: m)
        var rowSeen = [Bool](repeating: false, count: n), columnSeen = [Bool](repeating: false, count: m)
        var toScan = [Int](repeating: 0, count: m)

        for start in 0..<n {
            // Shortest augmenting path from row `start` to a free column.
            for k in 0..<m { toScan[k] = m - 1 - k }
            var left = m
            for k in 0..<n { rowSeen[k] = false }
            for k in 0..<m { columnSeen[k] = false; distance[k] = .infinity }
            var shortest = 0.0
            var row = start
            var sink = -1
            while sink == -1 {
                rowSeen[row] = true
                var best = -1
                var lowest = Double.infinity
                for k in 0..<left {
                    let j = toScan[k]
                    let reduced = shortest + cost[row][j] - u[row] - v[j]
                    if reduced < distance[j] {
                        path[j] = row
                        distance[j] = reduced
                    }
                    if distance[j] < lowest || (distance[j] == lowest && rowOfColumn[j] == -1) {
                        lowest = distance[j]
                        best = k
                    }
                }
                shortest = lowest
                guard shortest < .infinity else { throw Failure.infeasible }
                let j = toScan[best]
                if rowOfColumn[j] == -1 { sink = j } else { row = rowOfColumn[j] }
                columnSeen[j] = true
                left -= 1
                toScan[best] = toScan[left]
            }
            // Dual update.
            u[start] += shortest
            for i in 0..<n where rowSeen[i] && i != start { u[i] += shortest - distance[columnOfRow[i]] }
            for j in 0..<m where columnSeen[j] { v[j] -= shortest - distance[j] }
            // Flip the path.
            var j = sink
            while true {
                let i = path[j]
                rowOfColumn[j] = i
                swap(&columnOfRow[i], &j)
                if i == start { break }
            }
        }
        return columnOfRow
    }
}
