# frozen_string_literal: true
#
# rack-response: how responses travel back through Ferry (issue 16, response side): slow
# clients, stalled apps, streamed pieces, bodies longer than they say.
#
#   GET /pid                    this process's pid
#   GET /big?bytes=N            N bytes of the test pattern (byte[i] = i % 251), Content-Length
#                               set, written in 64 KiB pieces; once written, "rack-response:
#                               big body written" on stderr
#   GET /stall                  Content-Length: 100, then 10 bytes, then nothing for 60 s
#   GET /slow-head?secs=S       the head only after S seconds
#   GET /stream?n=N&gap=SECS    N pieces "piece I\n", SECS apart, chunked (no Content-Length)
#   GET /overrun?late=SECS      Content-Length: 5, then "hello" and, SECS later (default 0), a
#                               whole fake response after it

PATTERN = (0...251).map(&:chr).join.b.freeze
CHUNK = (PATTERN * 261).freeze # 65_511 bytes, a whole number of periods

# The pattern's bytes, streamed; says on stderr when the last one has been handed to the loader.
class Big
  def initialize(size)
    @size = size
  end

  def each
    sent = 0
    while sent < @size
      n = [CHUNK.bytesize, @size - sent].min
      yield CHUNK.byteslice(0, n)
      sent += n
    end
    $stderr.puts "rack-response: big body written"
    $stderr.flush
  end
end

# Yields `first`, then waits.
class Stall
  def each
    yield "0123456789"
    sleep 60
  end
end

# `n` pieces, `gap` seconds apart.
class Pieces
  def initialize(n, gap)
    @n = n
    @gap = gap
  end

  def each
    @n.times do |i|
      sleep @gap if i.positive?
      yield "piece #{i}\n"
    end
  end
end

# A body of 5 bytes as declared, then more: a whole response another client must never see.
class Overrun
  def initialize(late)
    @late = late
  end

  def each
    yield "hello"
    sleep @late if @late.positive?
    yield "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nLEAKED"
  end
end

def params(env)
  (env["QUERY_STRING"] || "").split("&").to_h { |pair| pair.split("=", 2) }
end

run lambda { |env|
  query = params(env)
  case env["PATH_INFO"]
  when "/pid"
    [200, { "content-type" => "text/plain" }, [Process.pid.to_s]]
  when "/big"
    size = Integer(query.fetch("bytes", "1048576"))
    [200, { "content-type" => "application/octet-stream", "content-length" => size.to_s }, Big.new(size)]
  when "/stall"
    [200, { "content-type" => "text/plain", "content-length" => "100" }, Stall.new]
  when "/slow-head"
    sleep Float(query.fetch("secs", "1"))
    [200, { "content-type" => "text/plain" }, ["late\n"]]
  when "/stream"
    [200, { "content-type" => "text/plain" }, Pieces.new(Integer(query.fetch("n", "10")), Float(query.fetch("gap", "0.1")))]
  when "/overrun"
    [200, { "content-type" => "text/plain", "content-length" => "5" }, Overrun.new(Float(query.fetch("late", "0")))]
  else
    [404, { "content-type" => "text/plain" }, ["not found\n"]]
  end
}
