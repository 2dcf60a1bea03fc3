# frozen_string_literal: true
#
# The other fixture apps: Sinatra (classic), rack3, and the loader-details fixture.

require "json"
require_relative "support"

class SinatraTest < Minitest::Test
  include FerryTest::Helpers

  def test_sinatra_page_and_form
    skip_unless_rack2("Debian's Sinatra 3 needs Rack 2")
    s = spawn_loader(FerryTest.app("sinatra")).start!
    page = s.get("/")
    assert_equal 200, page.status
    assert_match(%r{text/html}, page["Content-Type"])
    assert_includes page.body, "Hello from Sinatra"
    assert_includes page.body, "<form"
    r = s.request("POST", "/form", body: "name=Ada+%3CL%3E",
                                   extra: { "CONTENT_TYPE" => "application/x-www-form-urlencoded" })
    assert_equal 200, r.status
    assert_equal "Thanks, Ada &lt;L&gt;", r.body
    r = s.request("POST", "/form", body: ["name=Gr", "ace"], chunked: true,
                                   extra: { "CONTENT_TYPE" => "application/x-www-form-urlencoded" })
    assert_equal "Thanks, Grace", r.body
  end
end

class Rack3AppTest < Minitest::Test
  include FerryTest::Helpers

  def app
    FerryTest::SharedSpawn.get(:rack3_app) { FerryTest::Spawn.new(FerryTest.app("rack3")).start! }
  end

  def test_version
    assert_match(FerryTest.rack3? ? /\Arack 3\./ : /\Arack 2\./, app.get("/").body)
  end

  def test_array_header_values
    assert_equal %w[one two], app.get("/multi").all("X-Multi")
  end

  def test_streaming_body
    r = app.get("/stream")
    assert_equal "chunked", r["Transfer-Encoding"]
    assert_equal "a\nb\nc\n", r.body
  end

  def test_input
    r = app.request("POST", "/echo", body: ["hel", "lo"], chunked: true)
    assert_equal "hello", r.body
    # Rack 3 does not require a rewindable input, and the loader streams it; Rack 2 requires one.
    assert_equal FerryTest.rack3? ? "false" : "true", r["X-Rewindable"]
  end

  def test_response_finished_callbacks
    skip "rack.response_finished is a Rack 3 feature" unless FerryTest.rack3?
    before = app.get("/finished").body.to_i
    app.get("/")
    # The callback of the /finished request itself runs after its response was written.
    assert_operator app.get("/finished").body.to_i, :>=, before + 2
  end
end

class FeaturesTest < Minitest::Test
  include FerryTest::Helpers

  def app
    FerryTest::SharedSpawn.get(:features) { FerryTest::Spawn.new(FerryTest.fixture("features")).start! }
  end

  def test_after_reply_runs_after_the_response
    before = app.get("/after-count").body.to_i
    client = app.connect
    assert_equal "registered", client.request("GET", "/after-reply").body
    # Same connection, so the callback of the previous request has run.
    assert_equal before + 1, client.request("GET", "/after-count").body.to_i
  end

  def test_body_is_closed_also_for_head_and_errors
    client = app.connect
    before = client.request("GET", "/close-count").body.to_i
    assert_equal "abc", client.request("GET", "/closable").body
    assert_equal 200, client.request("HEAD", "/closable").status
    assert_equal before + 2, client.request("GET", "/close-count").body.to_i
    r = app.get("/fail-before-output")
    assert_equal 500, r.status
    assert_equal before + 3, app.get("/close-count").body.to_i
  end

  def test_error_after_the_head_closes_the_connection
    client = app.connect
    client.send_request("GET", "/fail-in-each")
    head = client.read_head
    assert_equal 200, head.status
    assert_equal "partial", client.read_chunk
    assert_raises(EOFError) { client.read_chunk }
    assert app.wait_output(/ferry-body-boom/)
  end

  def test_wrong_content_length_closes_the_connection
    client = app.connect
    client.send_request("GET", "/bad-length")
    head = client.read_head
    assert_equal "10", head["Content-Length"]
    assert_equal "abc", client.read_to_eof
  end

  def test_to_path_body
    r = app.get("/file")
    assert_equal "file body served through to_path\n", r.body
  end

  def test_app_chunked_body_passes_through
    client = app.connect
    r = client.request("GET", "/app-chunked")
    assert_equal "abc", r.body
    assert_equal "ok", client.request("GET", "/close-count").status == 200 ? "ok" : "no"
  end

  def test_rewindable_input
    body = "line one\nline two\nthree"
    r = app.request("POST", "/rewind", body: body).json
    if FerryTest.rack3?
      assert_equal({ "first" => body, "rewindable" => false }, r)
    else
      assert_equal({ "first" => body, "second" => "line ", "lines" => ["line one\n", "line two\n", "three"],
                     "gets" => "line one\n" }, r)
      big = ("0123456789" * 20_000 + "\n") * 8 # over the in-memory limit: kept in a temp file
      r = app.request("POST", "/rewind", body: big, chunked: true).json
      assert_equal big, r["first"]
      assert_equal "01234", r["second"]
      assert_equal 8, r["lines"].size
    end
  end

  def test_utf8_header_with_binary_body
    r = app.get("/utf8-header")
    assert_equal "café".b, r["X-Name"].b
    assert_equal "\xff\xfe".b, r.body.b
  end

  def test_status_as_string
    r = app.get("/status-string")
    assert_equal 201, r.status
    assert_equal "created", r.body
  end

  def test_exit_in_the_app_stops_the_process
    s = spawn_loader(FerryTest.fixture("features")).start!
    client = s.connect
    client.send_request("GET", "/exit")
    status = s.wait_exit(10)
    refute_nil status
    assert_equal 3, status.exitstatus
  end
end
