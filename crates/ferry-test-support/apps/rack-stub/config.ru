# frozen_string_literal: true
#
# rack-stub: Ferry's Rack fixture app; the endpoints are listed in app.rb.
# With FERRY_TEST_LINT=1 the app runs inside Rack::Lint, which checks both the env the loader
# builds and the app's responses. Rack 2's SPEC has no streaming (callable) bodies, so under
# Rack 2 /stream-callable alone bypasses Lint.

require_relative "app"

stub = RackStub::App.new
if ENV["FERRY_TEST_LINT"] == "1"
  linted = Rack::Builder.new do
    use Rack::Lint
    run stub
  end.to_app
  if RackStub::RACK3
    run linted
  else
    run(lambda do |env|
      env["PATH_INFO"] == "/stream-callable" ? stub.call(env) : linted.call(env)
    end)
  end
else
  run stub
end
