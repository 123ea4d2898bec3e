// Generating synthetic clips whose sentences each single out one actor through a known cue.
//
// A clip follows a plan made of groups:
//   single        one actor whose appearance is unique            → an "appearance" sentence
//   action pair   two identical actors doing different actions    → two "action" sentences
//   relation trio two identical actors doing the same action, one on each side of an anchor
//                 actor of unique appearance                      → two "relation" sentences and
//                                                                   one "appearance" sentence
// Plans (weights) for clips: pair (1), trio (2), pair + single (1), trio + single (2),
// two singles (1), two pairs (1): about a third of the sentences of each cue. Still images use
// trio (2), trio + single (2), two or three singles (1), all actors standing still.
// Positions are drawn until every constraint holds at every annotated frame (the actor stays in
// the frame all clip long; ≥ 60 % of each actor visible; the actors of an action pair wholly
// visible; relations clear by half the two radii); then every sentence is checked to refer to
// exactly its actor with the recorded cue (`SynthVerifier`).
import Foundation

/// Settings of a synthetic dataset.
public struct SyntheticConfig: Sendable, Equatable {
    /// Number of clips and still images.
    public var videos: Int = 10
    public var images: Int = 0
    public var seed: UInt64 = 0
    /// Frame size W×H in pixels.
    public var width: Int = 160
    public var height: Int = 120
    /// Frames per clip and the annotation stride (annotated frames 1 + k·stride, k ≥ 1).
    public var frames: Int = 32
    public var annotateEvery: Int = 8
    /// The annotated frames (1-based, increasing) when given; nil: every `annotateEvery` frames (see
    /// `annotatedFrames`). Frames near the ends, whose clip windows clamp, may be annotated only this way.
    public var annotatedFrameList: [Int]?
    /// Share of clips (and images) in the test split (the last ones).
    public var testFraction: Double = 0.2
    public var frameRate: Int = 24
    /// Actor radii as a multiple of the defaults (7.5 % and 12.5 % of the shorter side).
    public var actorScale: Double = 1

    public init() {}

    /// Throws when a setting is out of range.
    public func validate() throws {
        func bad(_ what: String, _ reason: String) -> SyntheticError { SyntheticError(what: what, reason: reason) }
        guard (0...1_000_000).contains(videos) else { throw bad("videos", "\(videos) is outside 0…1000000") }
        guard (0...1_000_000).contains(images) else { throw bad("images", "\(images) is outside 0…1000000") }
        guard (48...1024).contains(width), (48...1024).contains(height), width % 2 == 0, height % 2 == 0 else {
            throw bad("size", "\(width)x\(height): each side must be even and within 48…1024")
        }
        guard (annotateEvery + 2...1000).contains(frames) else {
            throw bad("frames", "\(frames) frames: need more than the annotation stride + 1 and at most 1000")
        }
        guard (2...64).contains(annotateEvery) else { throw bad("annotate-every", "\(annotateEvery) is outside 2…64") }
        if let list = annotatedFrameList {
            guard !list.isEmpty else { throw bad("annotated-frames", "the list is empty: give frames, or all") }
            guard list.allSatisfy({ (1...frames).contains($0) }) else {
                throw bad("annotated-frames", "\(list.map(String.init).joined(separator: ",")): each frame must be "
                          + "within 1…\(frames) (--frames)")
            }
            guard zip(list, list.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw bad("annotated-frames", "\(list.map(String.init).joined(separator: ",")): give each frame once, "
                          + "in increasing order")
            }
        }
        guard testFraction >= 0, testFraction < 1 else { throw bad("test-fraction", "\(testFraction) is outside [0, 1)") }
        guard (1...120).contains(frameRate) else { throw bad("frame-rate", "\(frameRate) is outside 1…120") }
        guard actorScale >= 0.5, actorScale <= 2.5 else {
            throw bad("actor-scale", "\(actorScale) is outside 0.5…2.5 (bigger actors no longer fit beside each other)")
        }
    }

    /// The annotated frames of every clip: `annotatedFrameList` when given, else 1 + k·stride for k ≥ 1, up to
    /// F − stride/2.
    public var annotatedFrames: [Int] {
        if let list = annotatedFrameList { return list }
        return stride(from: 1 + annotateEvery, through: frames - annotateEvery / 2, by: annotateEvery).map { $0 }
    }

    /// How many of `count` items go to the test split (the last ones).
    public func testCount(of count: Int) -> Int {
        guard count >= 2, testFraction > 0 else { return 0 }
        return min(count - 1, max(1, Int((Double(count) * testFraction).rounded())))
    }
}

/// Builds clips and still images from a `SyntheticConfig`; clip i depends only on (seed, i).
public struct SynthGenerator: Sendable {
    public let config: SyntheticConfig

    public init(config: SyntheticConfig) throws {
        try config.validate()
        self.config = config
    }

    /// The id of clip i (0-based): "syn00000", … (A2D ids are 11-character YouTube ids).
    public static func videoID(_ i: Int) -> String { String(format: "syn%05d", i) }

    /// Clip i (0-based) of the dataset.
    public func clip(_ i: Int) throws -> SynthClip {
        var rng = SynthRandom(seed: config.seed, stream: UInt64(i) + 1)
        let plans: [(Plan, Int)] = [(.pair, 1), (.trio, 2), (.pairSingle, 1), (.trioSingle, 2), (.singles(2), 1),
                                    (.twoPairs, 1)]
        let motion = SynthMotion(width: config.width, height: config.height, frames: config.frames,
                                 annotateEvery: config.annotateEvery)
        return try build(id: Self.videoID(i), plans: plans, frames: config.frames,
                         annotated: config.annotatedFrames, motion: motion, still: false,
                         isTest: i >= config.videos - config.testCount(of: config.videos), rng: &rng)
    }

    /// Still image i (0-based), ReferIt image id i + 1.
    public func still(_ i: Int) throws -> SynthClip {
        var rng = SynthRandom(seed: config.seed, stream: (1 << 40) + UInt64(i))
        let plans: [(Plan, Int)] = [(.trio, 2), (.trioSingle, 2), (.singles(2), 1), (.singles(3), 1)]
        let motion = SynthMotion(width: config.width, height: config.height, frames: 1, annotateEvery: 1)
        return try build(id: String(i + 1), plans: plans, frames: 1, annotated: [1], motion: motion, still: true,
                         isTest: i >= config.images - config.testCount(of: config.images), rng: &rng)
    }

    enum Plan: Equatable {
        case pair, trio, pairSingle, trioSingle, singles(Int), twoPairs

        /// Group kinds in the plan.
        var groups: [Group] {
            switch self {
            case .pair: [.pair]
            case .trio: [.trio]
            case .pairSingle: [.pair, .single]
            case .trioSingle: [.trio, .single]
            case .singles(let n): Array(repeating: .single, count: n)
            case .twoPairs: [.pair, .pair]
            }
        }
    }

    enum Group { case single, pair, trio }

    /// One actor before placement, with the role it plays in the sentences.
    struct Member {
        var appearance: SynthAppearance
        var action: SynthAction
        enum Role { case single, pair(other: Int), twin(other: Int, anchor: Int), anchor }
        var role: Role
    }

    func build(id: String, plans: [(Plan, Int)], frames: Int, annotated: [Int], motion: SynthMotion, still: Bool,
               isTest: Bool, rng: inout SynthRandom) throws -> SynthClip {
        for _ in 0..<50 {
            let plan = pickWeighted(plans, &rng)
            let members = cast(plan, still: still, &rng)
            for _ in 0..<200 {
                guard var clip = place(members, id: id, frames: frames, annotated: annotated, motion: motion,
                                       &rng) else { continue }
                clip.isTest = isTest
                guard let expressions = describe(clip, members, still: still, &rng),
                      (try? SynthVerifier.verify(clip, expressions)) != nil else { continue }
                clip.expressions = expressions
                return clip
            }
        }
        throw SyntheticError(what: "size",
                             reason: "could not place the actors of \(id) in a \(config.width)x\(config.height) frame")
    }

    func pickWeighted(_ plans: [(Plan, Int)], _ rng: inout SynthRandom) -> Plan {
        var k = rng.below(plans.reduce(0) { $0 + $1.1 })
        for (p, w) in plans {
            if k < w { return p }
            k -= w
        }
        return plans[0].0
    }

    /// Chooses appearances and actions for a plan; members are in group order.
    func cast(_ plan: Plan, still: Bool, _ rng: inout SynthRandom) -> [Member] {
        var used: [SynthAppearance] = []
        func newAppearance() -> SynthAppearance {
            while true {
                // Half the time reuse a shape already there, so colour and size words matter.
                let shape = !used.isEmpty && rng.chance(0.5) ? rng.pick(used).shape : rng.pick(SynthShape.allCases)
                let a = SynthAppearance(shape: shape, colour: rng.pick(SynthColour.allCases),
                                        size: rng.pick(SynthSize.allCases))
                if !used.contains(a) {
                    used.append(a)
                    return a
                }
            }
        }
        func visibleAction(_ shape: SynthShape, except: SynthAction? = nil) -> SynthAction {
            if still { return .still }
            let options = SynthAction.allCases.filter { $0.isVisible(for: shape) && $0 != except }
            return rng.pick(options)
        }
        var members: [Member] = []
        for group in plan.groups {
            let a = newAppearance()
            let k = members.count
            switch group {
            case .single:
                members.append(Member(appearance: a, action: visibleAction(a.shape), role: .single))
            case .pair:
                let first = visibleAction(a.shape)
                members.append(Member(appearance: a, action: first, role: .pair(other: k + 1)))
                members.append(Member(appearance: a, action: visibleAction(a.shape, except: first),
                                      role: .pair(other: k)))
            case .trio:
                let act = visibleAction(a.shape)
                let anchor = newAppearance()
                members.append(Member(appearance: a, action: act, role: .twin(other: k + 1, anchor: k + 2)))
                members.append(Member(appearance: a, action: act, role: .twin(other: k, anchor: k + 2)))
                members.append(Member(appearance: anchor, action: visibleAction(anchor.shape), role: .anchor))
            }
        }
        return members
    }

    /// Draws positions and a drawing order; nil when a constraint fails.
    func place(_ members: [Member], id: String, frames: Int, annotated: [Int], motion: SynthMotion,
               _ rng: inout SynthRandom) -> SynthClip? {
        let (w, h) = (config.width, config.height)
        let side = min(w, h)
        let travel = Int((motion.speed * Double(frames - 1)).rounded())
        let lift = Int(motion.jumpHeight)
        // Drawing order: a random permutation; actor k of the clip is member order[k].
        let order = rng.shuffled(Array(members.indices))
        var actors: [SynthActor] = []
        for (k, m) in order.enumerated() {
            let r = members[m].appearance.size.radius(side: side, scale: config.actorScale)
            var xr = r...(w - 1 - r), yr = r...(h - 1 - r)
            switch members[m].action {
            case .movingLeft: xr = (r + travel)...(w - 1 - r)
            case .movingRight: xr = r...(w - 1 - r - travel)
            case .movingUp: yr = (r + travel)...(h - 1 - r)
            case .movingDown: yr = r...(h - 1 - r - travel)
            case .jumping: yr = (r + lift)...(h - 1 - r)
            case .still, .spinning: break
            }
            guard xr.lowerBound <= xr.upperBound, yr.lowerBound <= yr.upperBound else { return nil }
            actors.append(SynthActor(instance: k, appearance: members[m].appearance, action: members[m].action,
                                     startX: rng.int(in: xr), startY: rng.int(in: yr),
                                     phase: rng.below(motion.jumpPeriod), spinDirection: rng.chance(0.5) ? 1 : -1,
                                     radius: r))
        }
        var clip = SynthClip(id: id, width: w, height: h, frameCount: frames, annotatedFrames: annotated,
                             actors: actors, expressions: [], motion: motion,
                             backgroundSeed: config.seed ^ UInt64(truncatingIfNeeded: id.hashValueStable),
                             isTest: false)
        // Member index → instance.
        var instanceOf = [Int](repeating: 0, count: members.count)
        for (k, m) in order.enumerated() { instanceOf[m] = k }
        for t in annotated {
            let labels = SynthRenderer.labels(clip, frame: t)
            var visible = [Int](repeating: 0, count: actors.count)
            for l in labels where l >= 0 { visible[Int(l)] += 1 }
            for (m, member) in members.enumerated() {
                let a = actors[instanceOf[m]]
                let full = SynthRenderer.footprint(a, frame: t, motion: motion, width: w, height: h).count
                guard full > 0 else { return nil }
                if case .pair = member.role {
                    if visible[a.instance] != full { return nil }
                } else if Double(visible[a.instance]) < 0.6 * Double(full) {
                    return nil
                }
            }
        }
        // Relation trios: the twins must lie on opposite sides of the anchor along one axis, clearly,
        // at every annotated frame.
        for (m, member) in members.enumerated() {
            guard case .twin(let other, let anchor) = member.role, m < other else { continue }
            let a = actors[instanceOf[m]], b = actors[instanceOf[other]], c = actors[instanceOf[anchor]]
            let margin = (a.radius + c.radius + 1) / 2
            let ok = [SynthRelation.leftOf, .above].contains { rel in
                let signs = annotated.map { t -> Int in
                    let pc = c.center(frame: t, motion: motion)
                    let oa = rel.offset(a.center(frame: t, motion: motion), from: pc)
                    let ob = rel.offset(b.center(frame: t, motion: motion), from: pc)
                    if oa >= margin, ob <= -margin { return 1 }
                    if ob >= margin, oa <= -margin { return -1 }
                    return 0
                }
                return signs.allSatisfy { $0 == 1 } || signs.allSatisfy { $0 == -1 }
            }
            if !ok { return nil }
        }
        clip.actors = actors
        clip.annotatedFrames = annotated
        return clip
    }

    /// Writes one sentence per actor, by role; nil when no sentence can be made.
    func describe(_ clip: SynthClip, _ members: [Member], still: Bool, _ rng: inout SynthRandom) -> [SynthExpression]? {
        // Instance of each member: the actor with the same appearance and action not yet taken, in member order.
        var taken = Set<Int>()
        var instanceOf: [Int] = []
        for m in members {
            guard let a = clip.actors.first(where: {
                !taken.contains($0.instance) && $0.appearance == m.appearance && $0.action == m.action
            }) else { return nil }
            taken.insert(a.instance)
            instanceOf.append(a.instance)
        }
        let appearances = clip.actors.map(\.appearance)
        var out: [SynthExpression] = []
        for (m, member) in members.enumerated() {
            let target = instanceOf[m]
            let me = clip.actors[target]
            let others = appearances.filter { $0 != me.appearance }
            guard let np = nounPhrase(for: me.appearance, against: others, &rng) else { return nil }
            switch member.role {
            case .single, .anchor:
                var text = np.text
                var action: SynthAction? = nil
                if !still, rng.chance(0.3) {
                    action = me.action
                    text += " " + rng.pick(me.action.phrases)
                }
                out.append(SynthExpression(target: target, phrase: np, action: action, relation: nil,
                                           cue: .appearance, text: text))
            case .pair:
                let text = np.text + " " + rng.pick(me.action.phrases)
                out.append(SynthExpression(target: target, phrase: np, action: me.action, relation: nil,
                                           cue: .action, text: text))
            case .twin(_, let anchorMember):
                let anchor = clip.actors[instanceOf[anchorMember]]
                guard let anchorNP = nounPhrase(for: anchor.appearance,
                                                against: appearances.filter { $0 != anchor.appearance }, &rng)
                else { return nil }
                // The first relation (largest offset first) that singles the actor out.
                var found: SynthExpression? = nil
                for rel in SynthVerifier.relations(of: me, to: anchor, in: clip) {
                    let e = SynthExpression(target: target, phrase: np, action: nil, relation: (rel, anchorNP),
                                            cue: .relation, text: "")
                    if clip.annotatedFrames.allSatisfy({ SynthVerifier.referents(of: e, in: clip, frame: $0) == [target] }) {
                        found = e
                        break
                    }
                }
                guard var e = found, let rel = e.relation?.kind else { return nil }
                e.text = np.text + " " + rng.pick(rel.phrases) + " " + anchorNP.text
                out.append(e)
            }
        }
        return out.sorted { $0.target < $1.target }
    }

    /// The shortest noun phrase that tells `a` from every appearance in `others` (one of the
    /// shortest at random), sometimes with one attribute more than needed.
    func nounPhrase(for a: SynthAppearance, against others: [SynthAppearance],
                    _ rng: inout SynthRandom) -> SynthNounPhrase? {
        let all = [SynthNounPhrase(shape: a.shape, colour: nil, size: nil),
                   SynthNounPhrase(shape: a.shape, colour: a.colour, size: nil),
                   SynthNounPhrase(shape: a.shape, colour: nil, size: a.size),
                   SynthNounPhrase(shape: a.shape, colour: a.colour, size: a.size)]
        func count(_ p: SynthNounPhrase) -> Int { (p.colour == nil ? 0 : 1) + (p.size == nil ? 0 : 1) }
        let working = all.filter { p in !others.contains { p.matches($0) } }
        guard let shortest = working.map(count).min() else { return nil }
        var choice = rng.pick(working.filter { count($0) == shortest })
        if shortest < 2, rng.chance(0.25) {
            let longer = working.filter { count($0) == shortest + 1 && $0.shape == choice.shape
                && ($0.colour == choice.colour || choice.colour == nil) && ($0.size == choice.size || choice.size == nil) }
            if !longer.isEmpty { choice = rng.pick(longer) }
        }
        return choice
    }
}

/// Checks that sentences refer to exactly their actor, through exactly their recorded cue.
public enum SynthVerifier {
    /// The relations (left of / right of / above / below) along which `a` lies clearly (by half the
    /// two radii) away from `anchor` at every annotated frame, the largest offset first.
    static func relations(of a: SynthActor, to anchor: SynthActor, in clip: SynthClip) -> [SynthRelation] {
        let margin = (a.radius + anchor.radius + 1) / 2
        func offset(_ rel: SynthRelation, _ t: Int) -> Int {
            rel.offset(a.center(frame: t, motion: clip.motion), from: anchor.center(frame: t, motion: clip.motion))
        }
        let t0 = clip.annotatedFrames.first ?? 1
        return SynthRelation.allCases
            .filter { rel in clip.annotatedFrames.allSatisfy { offset(rel, $0) >= margin } }
            .sorted { offset($0, t0) > offset($1, t0) }
    }

    /// The instances the expression's words pick out at a frame, using only the parts named.
    public static func referents(of e: SynthExpression, in clip: SynthClip, frame t: Int,
                                 useAction: Bool = true, useRelation: Bool = true) -> [Int] {
        var candidates = clip.actors.filter { e.phrase.matches($0.appearance) }
        if useAction, let action = e.action { candidates = candidates.filter { $0.action == action } }
        if useRelation, let relation = e.relation {
            let kind = relation.kind
            let anchors = clip.actors.filter { relation.anchor.matches($0.appearance) }
            guard anchors.count == 1 else { return candidates.map(\.instance) }   // an ambiguous anchor
            let anchor = anchors[0]
            let pc = anchor.center(frame: t, motion: clip.motion)
            candidates = candidates.filter {
                $0.instance != anchor.instance && kind.offset($0.center(frame: t, motion: clip.motion), from: pc) > 0
            }
        }
        return candidates.map(\.instance)
    }

    /// Throws unless, at every annotated frame, the full expression picks out exactly its target and
    /// the recorded cue is the one needed (dropping it leaves several candidates).
    public static func verify(_ clip: SynthClip, _ expressions: [SynthExpression]) throws {
        func fail(_ e: SynthExpression, _ reason: String) -> SyntheticError {
            SyntheticError(what: "\(clip.id): sentence '\(e.text)'", reason: reason)
        }
        for e in expressions {
            for t in clip.annotatedFrames {
                guard referents(of: e, in: clip, frame: t) == [e.target] else {
                    throw fail(e, "does not single out instance \(e.target) at frame \(t)")
                }
                let bare = referents(of: e, in: clip, frame: t, useAction: false, useRelation: false)
                switch e.cue {
                case .appearance:
                    guard bare == [e.target] else { throw fail(e, "its appearance words are not unique at frame \(t)") }
                case .action:
                    guard e.action != nil, e.relation == nil, bare.count > 1 else {
                        throw fail(e, "is marked 'action' but the action is not needed at frame \(t)")
                    }
                case .relation:
                    guard e.relation != nil, e.action == nil, bare.count > 1 else {
                        throw fail(e, "is marked 'relation' but the relation is not needed at frame \(t)")
                    }
                }
            }
        }
    }
}

/// A bad synthetic-dataset setting, or a scene that cannot be built.
public struct SyntheticError: Error, CustomStringConvertible, Sendable {
    public var what: String
    public var reason: String

    public init(what: String, reason: String) {
        self.what = what
        self.reason = reason
    }

    public var description: String { "synth: \(what): \(reason)" }
}

extension String {
    /// A hash of the UTF-8 bytes that is the same in every process (FNV-1a, 64 bits).
    var hashValueStable: UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01B3
        }
        return h
    }
}
