# frozen_string_literal: true
#
# The PhusionPassenger API: unit tests of lib/phusion_passenger.rb and the OutOfBandGc
# middleware, and end to end through the rack-passenger-api app (events, OOBW).

require_relative "support"
require_relative "../lib/phusion_passenger"
require_relative "../lib/phusion_passenger/rack/out_of_band_gc"

class PassengerApiUnitTest < Minitest::Test
  def test_on_event_accepts_known_names_and_rejects_others
    PhusionPassenger::EVENTS.each do |name|
      PhusionPassenger.on_event(name) { nil }
    end
    assert_raises(ArgumentError) { PhusionPassenger.on_event(:no_such_event) { nil } }
    assert_raises(ArgumentError) { PhusionPassenger.on_event(:oob_work) }
  end

  def test_call_event_passes_arguments
    seen = []
    PhusionPassenger.on_event(:credentials) { |user, password| seen << [user, password] }
    PhusionPassenger.call_event(:credentials, "u", "p")
    assert_includes seen, %w[u p]
  end

  def test_require_passenger_lib
    assert PhusionPassenger.require_passenger_lib("rack/out_of_band_gc") == false # already loaded
    assert_raises(LoadError) { PhusionPassenger.require_passenger_lib("no/such/lib") }
  end

  def test_advertised_concurrency_level
    assert_nil PhusionPassenger.advertised_concurrency_level
    PhusionPassenger.advertised_concurrency_level = 3
    assert_equal 3, PhusionPassenger.advertised_concurrency_level
  ensure
    PhusionPassenger.advertised_concurrency_level = nil
  end

  def test_out_of_band_gc_marks_every_nth_response
    app = ->(_env) { [200, {}, ["x"]] }
    [PhusionPassenger::Rack::OutOfBandGc.new(app, 3),
     PhusionPassenger::Rack::OutOfBandGc.new(app, strategy: :counting, frequency: 3),
     PhusionPassenger::Rack::OutOfBandGc.new(app, :strategy => :counting, :frequency => 3)].each do |mw|
      marks = Array.new(9) { mw.call({})[1].key?(PhusionPassenger::Rack::OutOfBandGc::HEADER) }
      assert_equal [false, false, true] * 3, marks
    end
    assert_equal "!~Request-OOB-Work", PhusionPassenger::Rack::OutOfBandGc::HEADER unless defined?(::Rack.release)
    assert_raises(ArgumentError) { PhusionPassenger::Rack::OutOfBandGc.new(app, strategy: :bogus) }
  end
end

class PassengerApiTest < Minitest::Test
  include FerryTest::Helpers

  def oobw(spawn)
    client = spawn.connect
    client.write(FerryTest.frame("REQUEST_METHOD" => "OOBW", "PASSENGER_CONNECT_PASSWORD" => spawn.password))
    client.read_to_eof
  ensure
    client&.close
  end

  def test_events_and_out_of_band_work
    s = spawn_loader(FerryTest.app("rack-passenger-api")).start!
    first = s.get("/")
    assert_equal "forked=false events=starting_worker_process", first.body
    assert_nil first["!~Request-OOB-Work"]
    second = s.get("/")
    assert_equal "true", second["!~Request-OOB-Work"]
    assert_equal "0", s.get("/oob").body
    assert_equal "oobw done", oobw(s)
    assert_equal "1", s.get("/oob").body
    s.close_stdin
    assert s.wait_exit(10)&.success?
    assert_match(/rack-passenger-api: stopping_worker_process/, s.output)
  end

  def test_stub_events
    s = spawn_loader(FerryTest.app("rack-stub")).start!
    assert_equal ["starting_worker_process:false"], s.get("/events").json
    assert_equal "oobw done", oobw(s)
    assert_equal ["starting_worker_process:false", "oob_work"], s.get("/events").json
  end
end
