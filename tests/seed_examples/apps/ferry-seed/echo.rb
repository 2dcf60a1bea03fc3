# frozen_string_literal: true
#
# The Rack app behind the seed examples' Ruby apps (each `config.ru` runs `SeedEcho.new(NAME)`).
# Rack only. It answers in plain text, one `key=value` line each, so that a test can tell which
# app answered and what it was given:
#
#   app=NAME            the app's name (from its config.ru)
#   cwd=...             Dir.pwd: the app root Ferry started it in
#   pid=...             the process id
#   interpreter=...     SEED_INTERPRETER, set by the wrappers under usr/ (empty: the ruby on PATH)
#   script_name=...     SCRIPT_NAME (the base URI) and PATH_INFO
#   path_info=...
#   env.KEY=VALUE       every String entry of the Rack env (CGI variables, passenger_set_cgi_param)
#   ENV.KEY=VALUE       every environment variable of the process (RAILS_ENV, RACK_ENV, ...)
#
# Two paths do something else (PATH_INFO, so under a base URI too):
#
#   /status/CODE        that status, body "status CODE from NAME"
#   /hold?gate=PATH     writes PATH.started, waits (at most 20 s, 10 ms polls) until PATH exists,
#                       then "released": keeps the process busy for as long as a test wants

class SeedEcho
  def initialize(name)
    @name = name
  end

  def call(env)
    path = env["PATH_INFO"].to_s
    return status(Regexp.last_match(1).to_i) if path =~ %r{\A/status/(\d{3})\z}
    return hold(Rack::Utils.parse_query(env["QUERY_STRING"].to_s)["gate"]) if path == "/hold"

    text(200, describe(env))
  end

  private

  def describe(env)
    lines = [
      "app=#{@name}", "cwd=#{Dir.pwd}", "pid=#{Process.pid}",
      "interpreter=#{ENV.fetch('SEED_INTERPRETER', '')}",
      "script_name=#{env['SCRIPT_NAME']}", "path_info=#{env['PATH_INFO']}"
    ]
    env.each { |k, v| lines << "env.#{k}=#{v}" if v.is_a?(String) }
    ENV.each { |k, v| lines << "ENV.#{k}=#{v}" }
    lines.join("\n") + "\n"
  end

  def status(code)
    text(code, "status #{code} from #{@name}\n")
  end

  def hold(gate)
    File.write("#{gate}.started", Process.pid.to_s)
    deadline = Time.now + 20
    sleep 0.01 until File.exist?(gate) || Time.now > deadline
    text(200, "released\n")
  end

  def text(code, body)
    [code, { "content-type" => "text/plain", "content-length" => body.bytesize.to_s }, [body]]
  end
end
