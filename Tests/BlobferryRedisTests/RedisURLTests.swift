import BlobferryRedis
import Testing

@Suite("Redis URL parsing")
struct RedisURLTests {
    @Test func fullURLWithUserPasswordPortAndDatabase() throws {
        let configuration = try RedisConfiguration(url: "redis://migrator:s3cret@redis.example.com:6380/4")
        #expect(configuration.host == "redis.example.com")
        #expect(configuration.port == 6380)
        #expect(configuration.username == "migrator")
        #expect(configuration.password == "s3cret")
        #expect(configuration.database == 4)
        #expect(configuration.redactedURL == "redis://migrator:***@redis.example.com:6380/4")
    }

    @Test func passwordOnlyAndDefaults() throws {
        let configuration = try RedisConfiguration(url: "redis://:hunter2@cache")
        #expect(configuration.username == nil)
        #expect(configuration.password == "hunter2")
        #expect(configuration.port == 6379)
        #expect(configuration.database == 0)
        #expect(configuration.connectTimeout == 5)
        #expect(configuration.commandTimeout == 30)
        #expect(configuration.reconnectWindow == 300)
        #expect(configuration.redactedURL == "redis://:***@cache:6379/0")

        let plain = try RedisConfiguration(url: "redis://localhost")
        #expect(plain.host == "localhost" && plain.port == 6379 && plain.database == 0)
        #expect(plain.username == nil && plain.password == nil)
        #expect(plain.redactedURL == "redis://localhost:6379/0")
        #expect(try RedisConfiguration(url: "REDIS://10.0.0.5:7000/").port == 7000)
    }

    @Test func percentEncodedSpecialCharacters() throws {
        // user "ops@team", password "p@ss:w/rd#?% é🚀"
        let url = "redis://ops%40team:p%40ss%3Aw%2Frd%23%3F%25%20%C3%A9%F0%9F%9A%80@127.0.0.1:6379/2"
        let configuration = try RedisConfiguration(url: url)
        #expect(configuration.username == "ops@team")
        #expect(configuration.password == "p@ss:w/rd#?% é🚀")
        #expect(configuration.database == 2)
        #expect(configuration.redactedURL == "redis://ops%40team:***@127.0.0.1:6379/2")
    }

    @Test func unencodedAtSignAndColonInPasswordStillParse() throws {
        let configuration = try RedisConfiguration(url: "redis://user:a:b@c@host:1234")
        #expect(configuration.username == "user")
        #expect(configuration.password == "a:b@c")
        #expect(configuration.host == "host")
        #expect(configuration.port == 1234)
    }

    @Test func ipv6Host() throws {
        let configuration = try RedisConfiguration(url: "redis://[::1]:6390/1")
        #expect(configuration.host == "::1")
        #expect(configuration.port == 6390)
        #expect(configuration.redactedURL == "redis://[::1]:6390/1")
    }

    @Test(arguments: [
        "", "localhost:6379", "http://localhost", "redis://", "redis://:topsecretpw@", "redis://host:notaport",
        "redis://host:0", "redis://host:70000", "redis://host:6379/db1", "redis://host:6379/-1",
        "redis://host/0?password=topsecretpw", "redis://u:topsecret%zzpw@host", "redis://topsecretpw@host",
        "redis://h o st", "redis://[::1:6379", "redis://::1",
    ])
    func badURLsAreRejectedWithoutLeakingThePassword(url: String) {
        do {
            _ = try RedisConfiguration(url: url)
            Issue.record("accepted \(url)")
        } catch let error as RedisError {
            #expect(error.code == .invalidURL)
            #expect(!error.message.contains("topsecret"))
            #expect(!error.description.contains("topsecret"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func tlsURLsAreRefusedWithAWayOut() {
        do {
            _ = try RedisConfiguration(url: "rediss://:topsecret@cache.example.com:6380")
            Issue.record("rediss:// accepted")
        } catch let error as RedisError {
            #expect(error.code == .invalidURL)
            #expect(error.message.contains("stunnel"))
            #expect(!error.message.contains("topsecret"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func descriptionsNeverShowThePassword() throws {
        let configuration = try RedisConfiguration(url: "redis://admin:topsecret@host:6379/0")
        #expect(!configuration.redactedURL.contains("topsecret"))
        #expect(!"\(configuration)".contains("topsecret"))
        #expect(!String(reflecting: configuration).contains("topsecret"))
    }
}
