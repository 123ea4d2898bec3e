// ExpectContinueHandler: answers a request's `Expect: 100-continue` (curl sends it with bodies over 1 MiB
// and otherwise waits a second) with an interim `100 Continue` — unless its Content-Length is over the
// upload limit, whose 413 the route then answers before the client sends the body (RFC 9110 §10.1.1).
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// A channel handler between Hummingbird's HTTP/1 codec and its request handling.
final class ExpectContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    /// The largest body a `100 Continue` is sent for (the server's --max-upload-mb).
    let maxBodyBytes: Int

    init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let request) = unwrapInboundIn(data),
           request.headerFields[.expect]?.lowercased() == "100-continue" {
            let length = request.headerFields[.contentLength].flatMap { Int($0) }
            if (length ?? 0) <= maxBodyBytes {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            }
        }
        context.fireChannelRead(data)
    }
}
