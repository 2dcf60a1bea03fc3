# frozen_string_literal: true
#
# Request bodies for the session protocol (loaders/PROTOCOL.md §2.2) and the `rack.input`
# objects built on them.
#
# * LengthBody / ChunkedBody read the raw body from the connection: exactly CONTENT_LENGTH bytes,
#   or HTTP/1.1 chunked encoding decoded on the fly. Both stream: nothing is read before the app
#   asks for it. A body that ends early (Ferry resets the connection when its client goes away
#   mid-upload) raises ClientDisconnected, an EOFError, as Unicorn and Puma signal it: the app
#   never mistakes a cut body for a complete one.
# * StreamInput is the Rack 3 `rack.input` (not rewindable, no copy kept).
# * RewindableInput is the Rack 2 `rack.input`: what has been read is kept, in memory up to
#   MEMORY_LIMIT and in an unlinked temporary file beyond, so `rewind` works.
# * EMPTY_INPUT is shared by all requests without a body.

module FerryLoader
  # A malformed request body (bad chunk framing).
  class BadRequestBody < IOError; end

  # The request body ended before its end: the client went away in the middle of its upload.
  class ClientDisconnected < EOFError; end

  READ_SIZE = 64 * 1024

  # Exactly `length` bytes of the connection.
  class LengthBody
    def initialize(conn, length)
      @conn = conn
      @length = length
      @remaining = length
    end

    # Up to `max` bytes (in `into` when given), or nil at the end of the body. Raises
    # ClientDisconnected when the connection ends first.
    def read_some(max, into = nil)
      return nil if @remaining <= 0
      data = read_conn(max < @remaining ? max : @remaining, into)
      unless data
        got = @length - @remaining
        @remaining = 0
        raise ClientDisconnected, "the client went away before the request body was complete " \
                                  "(#{got} of #{@length} bytes)"
      end
      @remaining -= data.bytesize
      data
    end

    private

    def read_conn(max, into)
      @conn.read_some(max, into)
    rescue Errno::ECONNRESET, Errno::EPIPE
      nil
    end
  end

  # An HTTP/1.1 chunked body, decoded. Raises ClientDisconnected when the connection ends before
  # the last chunk.
  class ChunkedBody
    MAX_LINE = 4096

    def initialize(conn)
      @conn = conn
      @state = :size
      @left = 0
    end

    def read_some(max, into = nil)
      read_chunked(max, into)
    rescue Errno::ECONNRESET, Errno::EPIPE
      finish
    end

    private

    def read_chunked(max, into)
      loop do
        case @state
        when :data
          data = @conn.read_some(max < @left ? max : @left, into)
          return finish unless data
          @left -= data.bytesize
          @state = :data_end if @left.zero?
          return data
        when :size
          line = @conn.read_line(MAX_LINE)
          return finish unless line
          size = line[/\A\s*([0-9a-fA-F]+)/, 1]
          raise BadRequestBody, "invalid chunk size line #{line[0, 40].inspect}" unless size
          @left = size.to_i(16)
          @state = @left.zero? ? :trailer : :data
        when :data_end
          line = @conn.read_line(MAX_LINE)
          return finish unless line
          raise BadRequestBody, "missing CRLF after a chunk" unless line.empty?
          @state = :size
        when :trailer
          line = @conn.read_line(MAX_LINE)
          @state = :done if line.nil? || line.empty?
        else
          return nil
        end
      end
    end

    # The connection ended before the last chunk.
    def finish
      @state = :done
      raise ClientDisconnected, "the client went away before the request body was complete " \
                                "(the chunked body ended before its last chunk)"
    end
  end

  # Shared by all requests without a body: always at end of input.
  class EmptyInput
    def read(length = nil, buffer = nil)
      if length.nil? || length.zero?
        buffer ? buffer.clear : String.new(encoding: Encoding::BINARY)
      else
        buffer&.clear
        nil
      end
    end

    def gets
      nil
    end

    def each
      self
    end

    def rewind
      0
    end

    def size
      0
    end

    def close
      nil
    end
  end

  EMPTY_INPUT = EmptyInput.new.freeze

  # Rack 3 `rack.input`: reads the body as the app asks, keeps nothing.
  class StreamInput
    def initialize(source)
      @source = source
      @pending = nil # bytes read past a line end by #gets
    end

    def read(length = nil, buffer = nil)
      if length.nil?
        out = buffer ? buffer.clear : String.new(encoding: Encoding::BINARY)
        scratch = String.new(encoding: Encoding::BINARY)
        while (chunk = next_chunk(READ_SIZE, scratch))
          out << chunk
        end
        return out
      end
      raise ArgumentError, "negative length #{length} given" if length.negative?
      if length.zero?
        return buffer ? buffer.clear : String.new(encoding: Encoding::BINARY)
      end
      # The first piece goes straight into the caller's buffer: no garbage for the usual
      # `read(16384, buf)` loops.
      out = next_chunk(length, buffer)
      unless out
        buffer&.clear
        return nil
      end
      if out.bytesize < length
        scratch = nil
        while out.bytesize < length
          scratch ||= String.new(encoding: Encoding::BINARY)
          more = next_chunk(length - out.bytesize, scratch) or break
          out << more
        end
      end
      out
    end

    def gets
      line = next_chunk(READ_SIZE) or return nil
      until (idx = line.index("\n"))
        more = next_chunk(READ_SIZE) or return line
        line << more
      end
      return line if idx == line.bytesize - 1
      unread(line.byteslice(idx + 1, line.bytesize - idx - 1))
      line.byteslice(0, idx + 1)
    end

    def each
      while (line = gets)
        yield line
      end
      self
    end

    def close
      nil
    end

    # Called by the loader at the end of the request.
    def cleanup; end

    private

    # Up to `max` bytes (in `into` when given), or nil at the end of the body.
    def next_chunk(max, into = nil)
      if (pending = @pending)
        if pending.bytesize <= max
          @pending = nil
          return into ? into.replace(pending) : pending
        end
        @pending = pending.byteslice(max, pending.bytesize - max)
        data = pending.byteslice(0, max)
        return into ? into.replace(data) : data
      end
      @source.read_some(max, into)
    end

    def unread(data)
      @pending = data
    end
  end

  # Rack 2 `rack.input`: a tee of the body into memory, then into a temporary file, so that the
  # app can rewind.
  class RewindableInput < StreamInput
    MEMORY_LIMIT = 1024 * 1024

    def initialize(source)
      super
      @memory = String.new(encoding: Encoding::BINARY)
      @file = nil
      @stored = 0 # bytes kept so far
      @pos = 0    # read position in the kept bytes
    end

    def rewind
      @pos = 0
    end

    # Total size of the body (reads the rest of it).
    def size
      save = @pos
      @pos = @stored
      scratch = String.new(encoding: Encoding::BINARY)
      nil while next_chunk(READ_SIZE, scratch)
      @pos = save
      @stored
    end

    def cleanup
      @file&.close
      @file = nil
      @memory = nil
    end

    private

    def next_chunk(max, into = nil)
      if @pos < @stored
        len = @stored - @pos
        len = max if len > max
        data = if @file
                 into ? @file.pread(len, @pos, into) : @file.pread(len, @pos)
               else
                 slice = @memory.byteslice(@pos, len)
                 into ? into.replace(slice) : slice
               end
        @pos += data.bytesize
        return data
      end
      data = @source.read_some(max, into) or return nil
      keep(data)
      @pos += data.bytesize
      data
    end

    def unread(data)
      @pos -= data.bytesize
    end

    def keep(data)
      if @file
        @file.write(data)
      elsif @memory.bytesize + data.bytesize <= MEMORY_LIMIT
        @memory << data
      else
        require "tempfile"
        @file = Tempfile.create("ferry-body.")
        File.unlink(@file.path)
        @file.binmode
        @file.write(@memory, data)
        @memory = nil
      end
      @stored += data.bytesize
    end
  end
end
