# frozen_string_literal: true
#
# A body longer than its Content-Length (issue 16): the loader sends the declared bytes only, so
# the connection stays at a response boundary and the next response on it is the next request's.

require_relative "support"

class ResponseLengthTest < Minitest::Test
  include FerryTest::Helpers

  def app
    FerryTest::SharedSpawn.get(:response_length) { FerryTest::Spawn.new(FerryTest.app("rack-response")).start! }
  end

  def test_the_excess_is_dropped_and_the_connection_kept
    client = app.connect
    first = client.request("GET", "/overrun")
    assert_equal "5", first["Content-Length"]
    assert_equal "hello", first.body
    second = client.request("GET", "/pid")
    assert_equal 200, second.status
    assert_match(/\A\d+\z/, second.body)
  end

  def test_the_excess_written_late_is_dropped_too
    client = app.connect
    assert_equal "hello", client.request("GET", "/overrun?late=0.1").body
    second = client.request("GET", "/pid")
    assert_match(/\A\d+\z/, second.body)
  end
end
