# frozen_string_literal: true
#
# WebSocket echo through the rack-stub app: full hijack (env['rack.hijack']) and partial hijack
# (the rack.hijack response header).

require "digest"
require "base64"
require_relative "support"

module WebSocketClient
  KEY = "dGhlIHNhbXBsZSBub25jZQ=="
  ACCEPT = Base64.strict_encode64(Digest::SHA1.digest(KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))

  def upgrade(spawn, path)
    client = spawn.connect
    client.send_request("GET", path, headers: {
                          "Connection" => "upgrade", "Upgrade" => "websocket",
                          "Sec-WebSocket-Key" => KEY, "Sec-WebSocket-Version" => "13"
                        })
    head = client.read_head
    assert_equal 101, head.status, head.raw_head
    assert_equal ACCEPT, head["Sec-WebSocket-Accept"]
    assert_match(/websocket/i, head["Upgrade"])
    client
  end

  def send_frame(client, opcode, payload)
    mask = Random.new.bytes(4).bytes
    masked = payload.bytes.each_with_index.map { |b, i| b ^ mask[i % 4] }.pack("C*")
    len = payload.bytesize
    header = if len < 126 then [0x80 | opcode, 0x80 | len].pack("CC")
             elsif len < 65_536 then [0x80 | opcode, 0x80 | 126, len].pack("CCn")
             else [0x80 | opcode, 0x80 | 127, len].pack("CCQ>")
             end
    client.write(header + mask.pack("C*") + masked)
  end

  def read_frame(client)
    b0, b1 = client.read_exactly(2).unpack("CC")
    refute_equal 0x80, b1 & 0x80, "server frames must not be masked"
    len = b1 & 0x7f
    len = client.read_exactly(2).unpack1("n") if len == 126
    len = client.read_exactly(8).unpack1("Q>") if len == 127
    [b0 & 0x0f, client.read_exactly(len)]
  end

  def exercise_echo(client)
    send_frame(client, 0x1, "hello ferry")
    assert_equal [0x1, "hello ferry"], read_frame(client)
    binary = Random.new(9).bytes(70_000).b
    send_frame(client, 0x2, binary)
    opcode, data = read_frame(client)
    assert_equal 0x2, opcode
    assert_equal binary, data.b
    send_frame(client, 0x9, "ping!")
    assert_equal [0xA, "ping!"], read_frame(client)
    send_frame(client, 0x8, [1000].pack("n"))
    assert_equal 0x8, read_frame(client)[0]
    assert client.eof?
  end
end

class HijackTest < Minitest::Test
  include FerryTest::Helpers
  include WebSocketClient

  def stub
    FerryTest::SharedSpawn.get(:hijack_stub) { FerryTest::Spawn.new(FerryTest.app("rack-stub")).start! }
  end

  def test_full_hijack_websocket_echo
    exercise_echo(upgrade(stub, "/ws"))
    assert_equal "hello world", stub.get("/hello").body
  end

  def test_partial_hijack_websocket_echo
    exercise_echo(upgrade(stub, "/ws-partial"))
    assert_equal "hello world", stub.get("/hello").body
  end

  def test_full_hijack_ends_when_the_peer_closes
    client = upgrade(stub, "/ws")
    send_frame(client, 0x1, "bye")
    assert_equal [0x1, "bye"], read_frame(client)
    client.socket.close_write # Ferry half-closes when the client goes away
    assert client.eof?
    assert_equal "hello world", stub.get("/hello").body
  end
end
