import BlobferryRedis
import BlobferryTestSupport
import Testing

@Suite("Redis AUTH and ACLs")
struct RedisAuthTests {
    static let adminPassword = "adm1n p@ss:/#%é"
    static let jobPassword = "j0b-secret"

    let server: RedisServerProcess

    init() throws {
        server = try RedisServerProcess(
            password: Self.adminPassword,
            aclUsers: ["job1 on >\(Self.jobPassword) ~blobferry:job1:* +@all"])
    }

    @Test func requirepassWithPercentEncodedPassword() throws {
        let configuration = try RedisConfiguration(url: server.url)
        #expect(configuration.password == Self.adminPassword)
        let redis = try RedisConnection(configuration: configuration)
        #expect(try redis.send("SET", "anything", "ok") == .status("OK"))
        #expect(try redis.send("ACL", "WHOAMI").string == "default")
    }

    @Test func aclUserRestrictedToItsKeyPattern() throws {
        let redis = try RedisConnection(
            configuration: try RedisConfiguration(url: server.url(username: "job1", password: Self.jobPassword)))
        #expect(try redis.send("ACL", "WHOAMI").string == "job1")
        #expect(try redis.send("SET", "blobferry:job1:meta", "mine") == .status("OK"))
        #expect(try redis.send("GET", "blobferry:job1:meta").string == "mine")
        do {
            _ = try redis.send("SET", "blobferry:job2:meta", "theirs")
            Issue.record("write outside the key pattern was allowed")
        } catch let error as RedisError {
            #expect(error.code == .serverError)
            #expect(error.message.hasPrefix("NOPERM"))
        }
        // A refused command leaves the connection usable.
        #expect(try redis.send("GET", "blobferry:job1:meta").string == "mine")
    }

    @Test func wrongPasswordIsAuthenticationFailed() throws {
        for url in [server.url(password: "not-the-password"), server.url(username: "job1", password: "nope-nope")] {
            do {
                _ = try RedisConnection(configuration: try RedisConfiguration(url: url))
                Issue.record("wrong password accepted")
            } catch let error as RedisError {
                #expect(error.code == .authenticationFailed)
                #expect(error.message.contains("WRONGPASS"))
                #expect(!error.message.contains("not-the-password") && !error.message.contains("nope-nope"))
            }
        }
    }

    @Test func missingPasswordIsAuthenticationFailed() throws {
        let error = redisErrorCode { try RedisConnection(configuration: try RedisConfiguration(url: server.url())) }
        #expect(error == .authenticationFailed)
    }

    @Test func wrongPasswordIsNotRetriedEvenWhenWaiting() throws {
        var configuration = try RedisConfiguration(url: server.url(password: "wrong"))
        configuration.reconnectWindow = 30
        let start = monotonicNow()
        #expect(
            redisErrorCode { try RedisConnection(configuration: configuration, waitForServer: true) }
                == .authenticationFailed)
        #expect(monotonicNow() - start < 5)
    }
}
