# frozen_string_literal: true
#
# Fixture for loader details the rack-stub app does not cover:
#
#   /after-reply          registers a rack.after_reply callback; /after-count tells how many ran
#   /closable             a body that counts its close calls; /close-count tells the count
#   /fail-in-each         yields "partial" then raises (the head is already sent)
#   /fail-before-output   raises in each before yielding anything (500 still possible)
#   /bad-length           declares content-length 10, sends 3 bytes
#   /file                 a body with to_path (Rack::Files style), declared length
#   /app-chunked          the app sets transfer-encoding: chunked and encodes itself
#   /rewind               reads rack.input, rewinds, reads it again, reads lines with gets/each
#   /utf8-header          a UTF-8 header value with a binary body
#   /status-string        status given as a String ("201")
#   /exit                 calls `exit` inside the app (the process must stop)

require "json"

$after_count = 0
$close_count = 0

class ClosableBody
  def initialize(parts)
    @parts = parts
  end

  def each(&block)
    @parts.each(&block)
  end

  def close
    $close_count += 1
  end
end

class FailingBody
  def initialize(first)
    @first = first
  end

  def each
    yield @first if @first
    raise "ferry-body-boom"
  end

  def close
    $close_count += 1
  end
end

class PathBody
  def initialize(path)
    @path = path
  end

  def to_path
    @path
  end

  def each
    File.open(@path, "rb") { |f| yield f.read }
  end
end

FIXTURE_FILE = File.join(__dir__, "file.txt")

def text(body, status = 200)
  [status, { "content-type" => "text/plain", "content-length" => body.bytesize.to_s }, [body]]
end

run(lambda do |env|
  case env["PATH_INFO"]
  when "/after-reply"
    env["rack.after_reply"] << -> { $after_count += 1 }
    text("registered")
  when "/after-count" then text($after_count.to_s)
  when "/closable" then [200, { "content-type" => "text/plain" }, ClosableBody.new(%w[a b c])]
  when "/close-count" then text($close_count.to_s)
  when "/fail-in-each" then [200, { "content-type" => "text/plain" }, FailingBody.new("partial")]
  when "/fail-before-output" then [200, { "content-type" => "text/plain" }, FailingBody.new(nil)]
  when "/bad-length" then [200, { "content-type" => "text/plain", "content-length" => "10" }, ClosableBody.new(["abc"])]
  when "/file"
    [200, { "content-type" => "text/plain", "content-length" => File.size(FIXTURE_FILE).to_s }, PathBody.new(FIXTURE_FILE)]
  when "/app-chunked"
    [200, { "content-type" => "text/plain", "transfer-encoding" => "chunked" }, ["3\r\nabc\r\n", "0\r\n\r\n"]]
  when "/rewind"
    input = env["rack.input"]
    first = input.read
    if input.respond_to?(:rewind)
      input.rewind
      second = input.read(5)
      input.rewind
      lines = []
      input.each { |line| lines << line }
      input.rewind
      gets = input.gets
      body = JSON.generate("first" => first, "second" => second, "lines" => lines, "gets" => gets)
    else
      body = JSON.generate("first" => first, "rewindable" => false)
    end
    text(body)
  when "/utf8-header"
    [200, { "content-type" => "application/octet-stream", "x-name" => "café" }, ["\xff\xfe".b]]
  when "/status-string" then ["201", { "content-type" => "text/plain" }, ["created"]]
  when "/exit" then exit(3)
  else text("not found", 404)
  end
end)
