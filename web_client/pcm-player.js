// Plays mono 16-bit little-endian PCM chunks through Web Audio as they arrive, back to back.
// Counters go to `stats` (playedMs, underruns, peakRms) so a page can show them and a test can read them.
export class PcmPlayer {
  constructor(stats, {leadS = 0.05, volume = 1.0} = {}) {
    this.stats = Object.assign(stats, {playedMs: 0, underruns: 0, peakRms: 0});
    this.leadS = leadS;
    this.rateHz = 24000;
    this.ctx = new AudioContext();
    this.gain = this.ctx.createGain();
    this.gain.gain.value = volume;
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 2048;
    this.gain.connect(this.analyser).connect(this.ctx.destination);
    this.nextTime = 0;
    this.sources = new Set();
    this.carry = null;  // odd trailing byte of a chunk, completed by the next one
    this.playing = false;
    this.streamSamples = 0;  // samples pushed since startStream()
    this.marks = [];  // [stream sample, AudioContext time it plays at], one per recent chunk
    const buf = new Float32Array(this.analyser.fftSize);
    setInterval(() => {
      this.analyser.getFloatTimeDomainData(buf);
      let s = 0;
      for (const v of buf) s += v * v;
      this.stats.peakRms = Math.max(this.stats.peakRms, Math.sqrt(s / buf.length));
    }, 50);
  }

  resume() {
    if (this.ctx.state === "suspended") this.ctx.resume();
  }

  push(data) {
    let bytes = new Uint8Array(data);
    if (this.carry !== null) {
      const joined = new Uint8Array(bytes.length + 1);
      joined[0] = this.carry;
      joined.set(bytes, 1);
      bytes = joined;
      this.carry = null;
    }
    if (bytes.length % 2) {
      this.carry = bytes[bytes.length - 1];
      bytes = bytes.subarray(0, bytes.length - 1);
    }
    if (!bytes.length) return;
    const pcm = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
    const buffer = this.ctx.createBuffer(1, pcm.length, this.rateHz);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) channel[i] = pcm[i] / 32768;
    const src = this.ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this.gain);
    // A short lead absorbs network jitter; running dry in the middle of speech is an underrun.
    if (this.nextTime < this.ctx.currentTime) {
      if (this.playing) this.stats.underruns++;
      this.nextTime = this.ctx.currentTime + this.leadS;
    }
    src.start(this.nextTime);
    this.marks.push([this.streamSamples, this.nextTime]);
    if (this.marks.length > 2000) this.marks.splice(0, 1000);
    this.streamSamples += pcm.length;
    this.nextTime += buffer.duration;
    this.playing = true;
    this.sources.add(src);
    src.onended = () => {
      this.sources.delete(src);
      this.stats.playedMs += buffer.duration * 1000;
    };
  }

  // A new stream: its positions (segment start_ms) count from zero again.
  startStream() {
    this.streamSamples = 0;
    this.marks = [];
  }

  // Seconds from now until the stream's position `ms` is heard (0 if it already was or is unknown).
  secondsUntil(ms) {
    const sample = Math.round(ms * this.rateHz / 1000);
    let mark = null;
    for (let i = this.marks.length - 1; i >= 0; i--) {
      if (this.marks[i][0] <= sample) { mark = this.marks[i]; break; }
    }
    if (mark === null) return 0;
    return Math.max(0, mark[1] + (sample - mark[0]) / this.rateHz - this.ctx.currentTime);
  }

  // Between sentences or streams the queue may run dry without that being an underrun.
  idle() {
    this.playing = false;
  }

  stop() {
    for (const src of this.sources) {
      src.onended = null;
      src.stop();
    }
    this.sources.clear();
    this.nextTime = 0;
    this.carry = null;
    this.playing = false;
    this.marks = [];
  }
}

// Billed streams (/v1/tts/stream, /v1/vc/stream) send only a few seconds of audio beyond what the client
// acknowledged (docs/protocol.md, flow control): acknowledge every binary frame as it arrives. One per socket.
export class AudioAcks {
  constructor(ws) {
    this.ws = ws;
    this.bytes = 0;
  }

  received(data) {
    this.bytes += data.byteLength;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({type: "ack", bytes: this.bytes}));
  }
}
