# frozen_string_literal: true
#
# The rack-stub app inside Rack::Lint (FERRY_TEST_LINT=1): every endpoint must pass, which
# checks the env the loader builds (input, errors, hijack, CGI variables) and its handling of
# Lint's wrapped bodies, under Rack 2 and Rack 3.

require "digest"
require_relative "support"
require_relative "test_hijack"

class LintTest < Minitest::Test
  include FerryTest::Helpers
  include WebSocketClient

  def stub
    FerryTest::SharedSpawn.get(:lint_stub) do
      FerryTest::Spawn.new(FerryTest.app("rack-stub"), env: { "FERRY_TEST_LINT" => "1" }).start!
    end
  end

  def teardown
    refute_match(/LintError/, stub.output)
    super
  end

  def test_hello_and_head
    assert_equal "hello world", stub.get("/hello").body
    client = stub.connect
    assert_equal 200, client.request("HEAD", "/hello").status
    assert_equal "hello world", client.request("GET", "/hello").body
  end

  def test_env
    env = stub.get("/env?x=1", extra: { "HTTPS" => "on", "SCRIPT_NAME" => "/base" }).json
    assert_equal "https", env["rack.url_scheme"]
    assert_equal "/base", env["SCRIPT_NAME"]
    assert_equal "x=1", env["QUERY_STRING"]
  end

  def test_uploads
    body = Random.new(11).bytes(2 * 1024 * 1024 + 3)
    expected = { "length" => body.bytesize, "sha256" => Digest::SHA256.hexdigest(body) }
    assert_equal expected, stub.request("POST", "/upload", body: body).json
    pieces = [body.byteslice(0, 100), body.byteslice(100, body.bytesize - 100)]
    assert_equal expected, stub.request("POST", "/upload", body: pieces, chunked: true).json
    assert_equal 5, stub.request("POST", "/env", body: "abcde").json["rack.input.bytes"]
  end

  def test_streams
    %w[/stream /stream-callable].each do |path|
      gate = File.join(stub.socket_dir, "lint-gate-#{rand(1 << 32)}")
      client = stub.connect
      client.send_request("GET", "#{path}?gate=#{gate}")
      assert_equal 200, client.read_head.status
      assert_equal "first\n", client.read_chunk
      File.write(gate, "")
      assert_equal "last\n", client.read_chunk
      assert_nil client.read_chunk
      File.unlink(gate)
    end
  end

  def test_cookies_status_headers
    assert_equal %w[a=1 b=2 c=3], stub.get("/cookies").all("Set-Cookie")
    client = stub.connect
    assert_equal 204, client.request("GET", "/status/204").status
    assert_equal 304, client.request("GET", "/status/304").status
    assert_equal 201, client.request("GET", "/status/201").status
    assert_equal 40_000, client.request("GET", "/large-header?size=40000")["X-Large"].size
  end

  def test_error_is_the_apps_own
    assert_equal 500, stub.get("/error").status
    assert stub.wait_output(/ferry-test-boom \(RuntimeError\)/)
  end

  def test_websockets
    exercise_echo(upgrade(stub, "/ws"))
    exercise_echo(upgrade(stub, "/ws-partial"))
  end

  def test_misc
    assert_equal stub.pid.to_s, stub.get("/pid").body
    assert_equal ["starting_worker_process:false"], stub.get("/events").json
    assert_equal "ok", stub.get("/barrier?n=1").body
  end
end
