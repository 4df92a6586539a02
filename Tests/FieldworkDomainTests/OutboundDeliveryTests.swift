import FieldworkDomain
import Foundation
import Testing

@Suite struct OutboundDeliveryTests {
    @Test func addressRangesSeeThroughIPv4MappedAddresses() throws {
        let metadata = try #require(IPAddress("169.254.169.254"))
        #expect(IPNetwork.nonPublic.contains { $0.contains(metadata) })
        for text in ["10.0.0.1", "172.31.255.255", "192.168.1.10", "127.0.0.53", "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd12::1",
                     "::ffff:10.0.0.1", "::ffff:127.0.0.1"] {
            let address = try #require(IPAddress(text), "\(text)")
            #expect(IPNetwork.nonPublic.contains { $0.contains(address) }, "\(text) is not public")
        }
        for text in ["8.8.8.8", "172.32.0.1", "101.226.0.1", "2400:da00::6666"] {
            let address = try #require(IPAddress(text))
            #expect(!IPNetwork.nonPublic.contains { $0.contains(address) }, "\(text) is public")
        }
        #expect(IPNetwork("10.0.0.0/33") == nil && IPNetwork("10.0.0/8") == nil && IPNetwork("nonsense") == nil)
        #expect(try #require(IPNetwork("127.0.0.1")).prefixLength == 32)
        #expect(try #require(IPAddress("::ffff:10.0.0.1")).unmapped.description == "10.0.0.1")
    }

    @Test func onlyAllowListedHostsOnPublicAddressesOverHTTPS() throws {
        let policy = OutboundPolicy(allowedHosts: ["qyapi.weixin.qq.com", "*.hooks.example.com", "169.254.169.254"], allowedNetworks: [])
        let robot = try policy.check(url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc")
        #expect(robot == .init(scheme: "https", host: "qyapi.weixin.qq.com", port: 443))
        #expect(throws: Never.self) { try policy.check(addresses: [IPAddress("101.226.0.1")!], of: robot) }
        #expect(try policy.check(url: "https://a.hooks.example.com:8443/x").port == 8443)

        #expect(throws: OutboundRefusal.hostNotAllowed("hooks.example.com")) { try policy.check(url: "https://hooks.example.com/x") }
        #expect(throws: OutboundRefusal.hostNotAllowed("evilhooks.example.com")) { try policy.check(url: "https://evilhooks.example.com/x") }
        #expect(throws: OutboundRefusal.hostNotAllowed("example.org")) { try policy.check(url: "https://example.org/") }
        #expect(throws: OutboundRefusal.scheme("file")) { try policy.check(url: "file://qyapi.weixin.qq.com/etc/passwd") }
        #expect(throws: OutboundRefusal.malformed("https://u:p@qyapi.weixin.qq.com/")) { try policy.check(url: "https://u:p@qyapi.weixin.qq.com/") }

        // On the host list, yet link-local: refused. A name that resolves into the network likewise (checked at every post).
        let metadata = try policy.check(url: "http://169.254.169.254/latest/meta-data/")
        #expect(throws: OutboundRefusal.nonPublicAddress(host: "169.254.169.254", address: "169.254.169.254")) {
            try policy.check(addresses: [IPAddress("169.254.169.254")!], of: metadata)
        }
        #expect(throws: OutboundRefusal.nonPublicAddress(host: "qyapi.weixin.qq.com", address: "10.1.2.3")) {
            try policy.check(addresses: [IPAddress("101.226.0.1")!, IPAddress("::ffff:10.1.2.3")!], of: robot)
        }
        // Plain HTTP to the public internet is refused; inside an allow-listed range (a local receiver) it is fine.
        let plain = try policy.check(url: "http://qyapi.weixin.qq.com/")
        #expect(throws: OutboundRefusal.plainHTTP(host: "qyapi.weixin.qq.com")) { try policy.check(addresses: [IPAddress("101.226.0.1")!], of: plain) }
        let local = OutboundPolicy(allowedHosts: ["127.0.0.1"], allowedNetworks: [IPNetwork("127.0.0.1/32")!])
        let receiver = try local.check(url: "http://127.0.0.1:8080/hook")
        #expect(throws: Never.self) { try local.check(addresses: [IPAddress("127.0.0.1")!], of: receiver) }
    }

    @Test func theBucketNeverLetsMoreThanTheLimitThroughInAnyMinute() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var bucket = TokenBucket.limiting(20, perSeconds: 60, burst: 5, updatedAt: start)
        var posts: [Double] = []
        // Someone wants to post every 100 ms for ten minutes.
        for step in 0..<6000 {
            let now = start.addingTimeInterval(Double(step) / 10)
            if bucket.take(at: now) { posts.append(Double(step) / 10) }
        }
        let busiest = posts.map { from in posts.filter { $0 >= from && $0 < from + 60 }.count }.max() ?? 0
        #expect(busiest <= 20)
        #expect(posts.count >= 5 + 15 * 10 - 1, "the allowance is used, not wasted: \(posts.count)")
        #expect(posts.prefix(5) == [0, 0.1, 0.2, 0.3, 0.4])

        // Over the receiver's limit: nothing for a minute, then the refill resumes.
        var paused = TokenBucket.limiting(20, perSeconds: 60, burst: 5, updatedAt: start)
        paused.pause(until: start.addingTimeInterval(60))
        #expect(paused.available(at: start.addingTimeInterval(59)) == 0)
        #expect(paused.nextTokenAt(after: start) == start.addingTimeInterval(64))
        #expect(paused.available(at: start.addingTimeInterval(64)) == 1)

        // A burst as large as the limit would let limit + refill through: it is kept below.
        var greedy = TokenBucket.limiting(20, perSeconds: 60, burst: 50, updatedAt: start)
        #expect(greedy.capacity == 19)
        var taken = 0
        for step in 0..<600 where greedy.take(at: start.addingTimeInterval(Double(step) / 10)) { taken += 1 }
        #expect(taken <= 20)
    }

    @Test func weComMessagesFitTheLimitAndDigestsCarryEveryMessage() {
        let long = OutboundMessage(title: "跟台支持 GT-20260305-0007", body: String(repeating: "手术器械准备说明。", count: 600), link: "https://crm.example.com/open/cards/7")
        let content = WeComMarkdown.content(long)
        #expect(content.utf8.count <= WeComMarkdown.limitBytes)
        #expect(content.hasSuffix("[查看全文](https://crm.example.com/open/cards/7)"))
        #expect(content.hasPrefix("**跟台支持 GT-20260305-0007**"))
        let short = OutboundMessage(title: "新任务卡", body: "请确认", link: "fieldwork://cards/1")
        #expect(WeComMarkdown.content(short) == "**新任务卡**\n\n请确认\n\n[查看详情](fieldwork://cards/1)")

        var queue = (1...300).map { OutboundMessage(title: "预警 \($0)", body: "客户 \($0) 连续两周零采购\n详情见链接", link: "fieldwork://customers/\($0)") }
        var posts: [String] = []
        while !queue.isEmpty {
            let digest = WeComMarkdown.digest(queue)
            #expect(digest.count >= 1 && digest.content.utf8.count <= WeComMarkdown.limitBytes)
            posts.append(digest.content)
            queue.removeFirst(digest.count)
        }
        #expect(posts.count > 1 && posts.count < 20)
        let all = posts.joined(separator: "\n")
        for index in 1...300 { #expect(all.contains("**预警 \(index)**")) }
        #expect(posts[0].hasPrefix("**汇总："))
    }

    @Test func receiverRepliesBecomeVerdicts() {
        func weCom(_ json: String, status: Int = 200) -> DeliveryVerdict { .weCom(status: status, body: Array(json.utf8)) }
        #expect(weCom(#"{"errcode":0,"errmsg":"ok"}"#) == .delivered)
        #expect(weCom(#"{"errcode":45009,"errmsg":"api freq out of limit"}"#) == .retry("errcode 45009: api freq out of limit", rateLimited: true))
        #expect(weCom(#"{"errcode":-1,"errmsg":"system busy"}"#) == .retry("errcode -1: system busy"))
        #expect(weCom(#"{"errcode":93000,"errmsg":"invalid webhook url"}"#) == .fail("errcode 93000: invalid webhook url"))
        #expect(weCom("<html>gateway</html>") == .retry("HTTP 200 without a JSON errcode"))
        #expect(weCom("", status: 502) == .retry("HTTP 502"))
        #expect(DeliveryVerdict.http(status: 204) == .delivered)
        #expect(DeliveryVerdict.http(status: 429) == .retry("HTTP 429", rateLimited: true))
        #expect(DeliveryVerdict.http(status: 404) == .fail("HTTP 404"))
        #expect(DeliveryVerdict.http(status: 408) == .retry("HTTP 408"))
    }
}
