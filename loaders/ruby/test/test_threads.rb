# frozen_string_literal: true
#
# Concurrency models: one request at a time by default; N at once with
# concurrency_model=thread, thread_count=N. The app's /barrier releases a group of N requests
# only when all N are inside it at once, so no sleeps are needed.

require_relative "support"

class ThreadsTest < Minitest::Test
  include FerryTest::Helpers

  def parallel(spawn, count, path)
    clients = Array.new(count) { spawn.connect }
    threads = clients.map { |c| Thread.new { c.request("GET", path) } }
    threads.map(&:value)
  ensure
    clients&.each(&:close)
  end

  def test_thread_model_serves_four_requests_at_once
    s = spawn_loader(FerryTest.app("rack-stub"),
                     args: { "concurrency_model" => "thread", "thread_count" => 4 }).start!
    assert_equal 4, s.properties["sockets"][0]["concurrency"]
    assert_equal true, s.get("/env").json["rack.multithread"]
    2.times do
      responses = parallel(s, 4, "/barrier?n=4")
      assert_equal [200] * 4, responses.map(&:status), responses.map(&:body).inspect
      assert_equal ["ok"] * 4, responses.map(&:body)
    end
    # Kept connections on every thread do not stop a fifth connection from being served.
    kept = Array.new(4) { s.connect }
    kept.each { |c| assert_equal "hello world", c.request("GET", "/hello").body }
    assert_equal "hello world", s.get("/hello").body
    kept.each(&:close)
    s.close_stdin
    assert s.wait_exit(10)&.success?
  end

  def test_process_model_serves_one_request_at_a_time
    s = spawn_loader(FerryTest.app("rack-stub")).start!
    assert_equal 1, s.properties["sockets"][0]["concurrency"]
    assert_equal false, s.get("/env").json["rack.multithread"]
    responses = parallel(s, 2, "/barrier?n=2&timeout=0.3")
    assert_equal [504, 504], responses.map(&:status), "two requests ran at once in the process model"
  end

  def test_idle_kept_connection_does_not_block_a_new_one
    s = spawn_loader(FerryTest.app("rack-stub")).start!
    kept = s.connect
    assert_equal "hello world", kept.request("GET", "/hello").body
    # The only thread idles on `kept`; a new connection must still be served.
    assert_equal "hello world", s.get("/hello").body
    kept.close
  end
end
