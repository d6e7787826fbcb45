#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// A deliberately small HTTP/1.1 server for three GET routes: `/healthz`, `/readyz`,
/// `/metrics`. It runs on its own thread with blocking sockets, one request per connection.
/// (swift-nio would do it too, but roughly doubles a clean build on the 2-core machines for
/// three routes.) Nothing else is exposed.
public final class HealthServer: Sendable {
    public let port: Int
    private let listener: Int32
    private let health: Health
    private let metrics: RuntimeMetrics
    private let running = Atomic<Bool>(true)

    public init(port: Int, health: Health, metrics: RuntimeMetrics) throws {
        self.health = health
        self.metrics = metrics
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HealthServerError(message: "socket(): \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr = in_addr(s_addr: INADDR_ANY)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HealthServerError(message: "cannot listen on port \(port): \(reason)")
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        listener = fd
    }

    public func start() {
        let thread = Thread { [self] in self.serve() }
        thread.name = "health-http"
        thread.start()
    }

    public func stop() {
        running.store(false, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while running.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            handle(client)
            close(client)
        }
    }

    private func handle(_ fd: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192 {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            request.append(contentsOf: chunk[0..<n])
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let (status, contentType, body): (String, String, String)
        if line.count < 2 {
            (status, contentType, body) = ("400 Bad Request", "text/plain", "bad request\n")
        } else if line[0] != "GET" && line[0] != "HEAD" {
            (status, contentType, body) = ("405 Method Not Allowed", "text/plain", "only GET\n")
        } else {
            switch line[1].split(separator: "?").first.map(String.init) ?? "" {
            case "/healthz":
                (status, contentType, body) = ("200 OK", "text/plain", "ok\n")
            case "/readyz":
                let reasons = health.notReadyReasons
                (status, contentType, body) = reasons.isEmpty
                    ? ("200 OK", "text/plain", "ready\n")
                    : ("503 Service Unavailable", "text/plain", "not ready: " + reasons.joined(separator: "; ") + "\n")
            case "/metrics":
                (status, contentType, body) = ("200 OK", "text/plain; version=0.0.4", metrics.exposition())
            default:
                (status, contentType, body) = ("404 Not Found", "text/plain", "not found\n")
            }
        }
        let bytes = Array(body.utf8)
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n"
        var out = Array(head.utf8)
        if line.first != "HEAD" { out += bytes }
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
    }
}

public struct HealthServerError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
