# frozen_string_literal: true
#
# A Rack app for the re-forking tests (refork_after, issue 22). Like a framework app, it loads
# code lazily: the first request builds a large structure (LAZY_ENTRIES strings), so a worker
# that has served requests holds memory a cold preloader does not. It records the
# :promoted_to_template event: the template remembers its own pid, and every worker forked from
# it inherits that.
#
#   GET /pid        "<pid> <ppid>"
#   GET /promoted   the pid of the template this process was forked from ("" if none)
#   GET /lazy       how many lazily built entries this process holds (built on first use)
#   GET /           "refork\n"
#
# With REFORK_EVENT_FILE set, the event also appends "promoted_to_template <pid>\n" to that file.

$promoted_in = nil
$lazy = nil

if defined?(PhusionPassenger)
  PhusionPassenger.on_event(:promoted_to_template) do
    $promoted_in = Process.pid
    file = ENV["REFORK_EVENT_FILE"].to_s
    File.open(file, "a") { |f| f.write("promoted_to_template #{Process.pid}\n") } unless file.empty?
  end
end

def lazy
  $lazy ||= Array.new(Integer(ENV.fetch("LAZY_ENTRIES", "50000"))) { |i| ("lazy-#{i}-" * 8).freeze }.freeze
end

run lambda { |env|
  body =
    case env["PATH_INFO"]
    when "/pid" then "#{Process.pid} #{Process.ppid}"
    when "/promoted" then $promoted_in.to_s
    when "/lazy" then lazy.size.to_s
    else
      lazy
      "refork\n"
    end
  [200, { "content-type" => "text/plain" }, [body]]
}
