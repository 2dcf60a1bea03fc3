# frozen_string_literal: true
#
# The session protocol end to end against the rack-stub app: env, request bodies, response
# framing, keep-alive and half-close, errors, special requests.

require "digest"
require_relative "support"

class RequestsTest < Minitest::Test
  include FerryTest::Helpers

  def stub
    FerryTest::SharedSpawn.get(:requests_stub) { FerryTest::Spawn.new(FerryTest.app("rack-stub")).start! }
  end

  def test_hello_has_content_length
    r = stub.get("/hello")
    assert_equal 200, r.status
    assert_equal "OK", r.reason
    assert_equal "11", r["Content-Length"]
    assert_nil r["Transfer-Encoding"]
    assert_equal "text/plain", r["Content-Type"]
    assert_equal "hello world", r.body
  end

  def test_env
    env = stub.get("/env?a=1&b=%20x", headers: { "X-Custom" => "yes", "Accept" => "*/*" }).json
    assert_equal "GET", env["REQUEST_METHOD"]
    assert_equal "", env["SCRIPT_NAME"]
    assert_equal "/env", env["PATH_INFO"]
    assert_equal "a=1&b=%20x", env["QUERY_STRING"]
    assert_equal "/env?a=1&b=%20x", env["REQUEST_URI"]
    assert_equal "example.test", env["SERVER_NAME"]
    assert_equal "8080", env["SERVER_PORT"]
    assert_equal "HTTP/1.1", env["SERVER_PROTOCOL"]
    assert_equal "HTTP/1.1", env["HTTP_VERSION"]
    assert_equal "127.0.0.1", env["REMOTE_ADDR"]
    assert_equal "yes", env["HTTP_X_CUSTOM"]
    assert_equal "*/*", env["HTTP_ACCEPT"]
    assert_equal "http", env["rack.url_scheme"]
    assert_equal false, env["rack.multithread"]
    assert_equal true, env["rack.multiprocess"]
    assert_equal false, env["rack.run_once"]
    assert_equal true, env["rack.hijack?"]
    assert_equal 0, env["rack.input.bytes"]
    refute env.key?("PASSENGER_CONNECT_PASSWORD")
    refute env.key?("CONTENT_LENGTH")
    refute env.key?("HTTP_TRANSFER_ENCODING")
  end

  def test_env_https_and_base_uri
    %w[on yes 1 ON].each do |value|
      env = stub.get("/env", extra: { "HTTPS" => value }).json
      assert_equal "https", env["rack.url_scheme"], "HTTPS=#{value}"
    end
    env = stub.get("/env", extra: { "SCRIPT_NAME" => "/blog" }).json
    assert_equal "/blog", env["SCRIPT_NAME"]
    assert_equal "/env", env["PATH_INFO"]
    assert_equal "/blog/env", env["REQUEST_URI"]
  end

  def test_env_with_content_length_body
    body = Random.new(1).bytes(300_000)
    env = stub.request("POST", "/env", body: body, extra: { "CONTENT_TYPE" => "application/octet-stream" }).json
    assert_equal body.bytesize, env["rack.input.bytes"]
    assert_equal body.bytesize.to_s, env["CONTENT_LENGTH"]
    assert_equal "application/octet-stream", env["CONTENT_TYPE"]
  end

  def test_chunked_body_is_decoded_for_the_app
    pieces = [Random.new(2).bytes(10), Random.new(3).bytes(70_000), "x", Random.new(4).bytes(200_000)]
    env = stub.request("POST", "/env", body: pieces, chunked: true).json
    assert_equal pieces.sum(&:bytesize), env["rack.input.bytes"]
    refute env.key?("HTTP_TRANSFER_ENCODING"), "the app must not see HTTP_TRANSFER_ENCODING"
    refute env.key?("CONTENT_LENGTH")
    upload = stub.request("POST", "/upload", body: pieces, chunked: true).json
    assert_equal pieces.sum(&:bytesize), upload["length"]
    assert_equal Digest::SHA256.hexdigest(pieces.join), upload["sha256"]
  end

  def test_content_length_upload
    body = Random.new(5).bytes(3 * 1024 * 1024 + 17)
    upload = stub.request("POST", "/upload", body: body).json
    assert_equal body.bytesize, upload["length"]
    assert_equal Digest::SHA256.hexdigest(body), upload["sha256"]
  end

  def test_empty_bodies
    assert_equal({ "length" => 0, "sha256" => Digest::SHA256.hexdigest("") },
                 stub.request("POST", "/upload", body: "").json)
    assert_equal 0, stub.request("POST", "/upload", body: [], chunked: true).json["length"]
    # No body at all: the input is empty and the loader does not wait for more.
    client = stub.connect
    client.send_request("POST", "/upload", half_close: false)
    assert_equal 0, client.read_response.json["length"]
  end

  def test_streaming_response_is_chunked_and_flushed
    gate = File.join(stub.socket_dir, "gate-#{rand(1 << 32)}")
    client = stub.connect
    client.send_request("GET", "/stream?gate=#{gate}")
    head = client.read_head
    assert_equal 200, head.status
    assert_equal "chunked", head["Transfer-Encoding"]
    assert_nil head["Content-Length"]
    assert_equal "first\n", client.read_chunk # before the gate exists
    File.write(gate, "")
    assert_equal "last\n", client.read_chunk
    assert_nil client.read_chunk
    client.close
  ensure
    File.unlink(gate) if gate && File.exist?(gate)
  end

  def test_streaming_callable_body
    gate = File.join(stub.socket_dir, "gate-#{rand(1 << 32)}")
    client = stub.connect
    client.send_request("GET", "/stream-callable?gate=#{gate}")
    head = client.read_head
    assert_equal 200, head.status
    assert_equal "chunked", head["Transfer-Encoding"]
    assert_equal "first\n", client.read_chunk
    File.write(gate, "")
    assert_equal "last\n", client.read_chunk
    assert_nil client.read_chunk
    # The stream was closed by the app: the connection may carry another request.
    assert_equal "hello world", client.request("GET", "/hello").body
  ensure
    File.unlink(gate) if gate && File.exist?(gate)
  end

  def test_multiple_set_cookie_headers
    r = stub.get("/cookies")
    assert_equal %w[a=1 b=2 c=3], r.all("Set-Cookie")
    refute_match(/a=1\nb=2/, r.raw_head)
  end

  def test_head_request_has_no_body
    client = stub.connect
    r = client.request("HEAD", "/hello")
    assert_equal 200, r.status
    assert_equal "11", r["Content-Length"]
    # Were body bytes sent, this second response would not parse.
    assert_equal "hello world", client.request("GET", "/hello").body
  end

  def test_204_and_304_have_no_body
    client = stub.connect
    [204, 304].each do |code|
      r = client.request("GET", "/status/#{code}")
      assert_equal code, r.status
      assert_nil r["Transfer-Encoding"]
      assert_nil r["Content-Length"]
    end
    assert_equal "hello world", client.request("GET", "/hello").body
  end

  def test_other_status_codes
    r = stub.get("/status/418")
    assert_equal 418, r.status
    assert_equal "", r.body
    assert_equal 404, stub.get("/nothing-here").status
  end

  def test_exception_gives_500_and_backtrace_on_stderr
    client = stub.connect
    r = client.request("GET", "/error")
    assert_equal 500, r.status
    assert_equal "close", r["Connection"]
    refute_empty r.body
    assert client.eof?
    m = stub.wait_output(/ferry-test-boom \(RuntimeError\)\n(\s+from .*\n)+/)
    assert m, stub.output
    assert_match(%r{rack-stub/app\.rb:\d+}, m[0])
    # The process goes on serving.
    assert_equal "hello world", stub.get("/hello").body
  end

  def test_keepalive_two_requests_on_one_connection
    client = stub.connect
    first = client.request("GET", "/pid")
    second = client.request("GET", "/pid")
    assert_equal first.body, second.body
    assert_nil first["Connection"]
    third = client.request("GET", "/stream?gate=/")
    assert_equal "first\nlast\n", third.body
    assert_equal "hello world", client.request("GET", "/hello").body
  end

  def test_request_with_body_closes_the_connection
    client = stub.connect
    r = client.request("POST", "/upload", body: "abc")
    assert_equal "close", r["Connection"]
    assert client.eof?
  end

  def test_half_close_without_body
    client = stub.connect
    client.send_request("GET", "/hello", half_close: true)
    assert_equal "hello world", client.read_response.body
    assert client.eof?, "after a half-close the loader must see EOF and close quietly"
  end

  def test_half_close_with_body_before_reading
    client = stub.connect
    client.send_request("POST", "/upload", body: "x" * 100_000) # half-closes after the body
    r = client.read_response
    assert_equal 100_000, r.json["length"]
    assert client.eof?
  end

  def test_peer_dropping_the_connection_is_quiet
    client = stub.connect
    client.close
    client = stub.connect
    client.write(FerryTest.frame("REQUEST_METHOD" => "GET")[0, 3])
    client.close
    assert_equal "hello world", stub.get("/hello").body
  end

  # Issue 16, request side: Ferry resets the connection when its client leaves mid-upload; the
  # app must get an exception (an EOFError, as from Unicorn or Puma), never a short body that
  # looks complete.
  def test_a_body_cut_short_raises_in_the_app
    record = File.join(stub.socket_dir, "record-#{rand(1 << 32)}")
    client = stub.connect
    client.send_request("POST", "/consume?record=#{record}", body: "",
                                                             extra: { "CONTENT_LENGTH" => "1000" }, half_close: false)
    client.write("x" * 500)
    client.socket.close
    lines = wait_for_record(record, /\A(error|complete)/)
    error = lines.find { |l| l.start_with?("error") }
    assert_match(/\Aerror FerryLoader::ClientDisconnected: .*\(500 of 1000 bytes\)/, error)
    require_relative "../lib/ferry_loader/input"
    assert FerryLoader::ClientDisconnected < EOFError
    refute(lines.any? { |l| l.start_with?("complete") })
    assert stub.wait_output(/went away before the request body was complete \(500 of 1000/)
    assert_equal "hello world", stub.get("/hello").body
  end

  def test_a_chunked_body_cut_short_raises_in_the_app
    record = File.join(stub.socket_dir, "record-#{rand(1 << 32)}")
    client = stub.connect
    client.send_request("POST", "/consume?record=#{record}", extra: { "HTTP_TRANSFER_ENCODING" => "chunked" },
                                                             half_close: false)
    client.write("5\r\nhello\r\n3\r\nab")
    client.socket.close
    lines = wait_for_record(record, /\A(error|complete)/)
    error = lines.find { |l| l.start_with?("error") }
    assert_match(/\Aerror FerryLoader::ClientDisconnected: .*before its last chunk/, error)
  end

  def test_large_response_header
    r = stub.get("/large-header?size=60000")
    assert_equal 60_000, r["X-Large"].bytesize
    assert_equal "x" * 60_000, r["X-Large"]
    assert_equal "ok", r.body
  end

  def test_wrong_or_missing_password_closes_the_connection
    [nil, "wrong-password-xx"].each do |password|
      client = stub.connect
      client.send_request("GET", "/hello", password: password)
      assert client.eof?, "password #{password.inspect}: no response expected"
    end
  end

  def test_oversized_frame_is_refused
    client = stub.connect
    client.write([2 * 1024 * 1024].pack("N"))
    assert client.eof?
  end

  def test_ping
    client = stub.connect
    client.write(FerryTest.frame("REQUEST_METHOD" => "PING", "PASSENGER_CONNECT_PASSWORD" => stub.password))
    assert_equal "pong", client.read_to_eof
  end

  def test_pid
    assert_equal stub.pid.to_s, stub.get("/pid").body
  end

  def test_duplicate_keys_later_wins
    client = stub.connect
    frame = FerryTest.frame([["REQUEST_METHOD", "GET"], ["PATH_INFO", "/nope"], ["QUERY_STRING", ""],
                             ["PATH_INFO", "/hello"], ["PASSENGER_CONNECT_PASSWORD", stub.password]])
    client.write(frame)
    assert_equal "hello world", client.read_response.body
  end

  private

  # The lines of the record file once one matches `done` (within 10 s).
  def wait_for_record(path, done)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    loop do
      lines = File.exist?(path) ? File.read(path).lines.map(&:chomp) : []
      return lines if lines.any? { |l| done.match?(l) }
      flunk "no #{done.inspect} in #{path}: #{lines.inspect}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.01
    end
  end
end

# A 50 MB upload, with Content-Length and chunked, streams through without being held in memory.
class LargeUploadTest < Minitest::Test
  include FerryTest::Helpers

  SIZE = 50 * 1024 * 1024

  def peak_rss_kb(pid)
    File.read("/proc/#{pid}/status")[/^VmHWM:\s+(\d+)/, 1].to_i
  end

  def test_fifty_megabytes
    s = spawn_loader(FerryTest.app("rack-stub")).start!
    s.get("/hello")
    before = peak_rss_kb(s.pid)
    piece = Random.new(7).bytes(1024 * 1024)
    digest = Digest::SHA256.new
    50.times { digest << piece }
    pieces = Array.new(SIZE / piece.bytesize, piece)

    client = s.connect
    client.send_request("POST", "/upload", body: "", extra: { "CONTENT_LENGTH" => SIZE.to_s }, half_close: false)
    pieces.each { |p| client.write(p) }
    client.socket.close_write
    r = client.read_response
    assert_equal({ "length" => SIZE, "sha256" => digest.hexdigest }, r.json)

    r = s.request("POST", "/upload", body: pieces, chunked: true)
    assert_equal({ "length" => SIZE, "sha256" => digest.hexdigest }, r.json)

    grown = peak_rss_kb(s.pid) - before
    assert_operator grown, :<, 25 * 1024, "peak RSS grew by #{grown} KiB: the body was buffered in memory"
  end
end
