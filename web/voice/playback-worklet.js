// The speaker side of a voice session, on the audio thread: a queue of 16 kHz PCM16 chunks played at the
// context's rate (linear interpolation), and marks placed in that stream. A mark is reported ('played') only
// when every sample queued before it has actually been rendered, which is what the server's barge-in and
// "what the caller heard" logic rely on; 'clear' drops the queue and reports every pending mark at once.
const IN_RATE = 16000;

class PcmPlayback extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = IN_RATE / sampleRate; // input samples per output sample
    this.chunks = []; // Float32Array at 16 kHz
    this.offset = 0; // fractional read position in chunks[0]
    this.queued = 0; // input samples queued (whole chunks, minus what was read)
    this.played = 0; // input samples played since the start
    this.marks = []; // {name, at}: `at` is the input-sample position after which the mark has played
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(message) {
    if (message.type === 'audio') {
      const pcm = new Int16Array(message.pcm);
      const samples = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i += 1) samples[i] = pcm[i] / 0x8000;
      this.chunks.push(samples);
      this.queued += samples.length;
    } else if (message.type === 'mark') {
      const at = this.played + this.queued;
      if (at <= this.played && this.marks.length === 0) this.port.postMessage({ type: 'played', name: message.name });
      else this.marks.push({ name: message.name, at });
    } else if (message.type === 'clear') {
      this.chunks = [];
      this.offset = 0;
      this.queued = 0;
      for (const mark of this.marks) this.port.postMessage({ type: 'played', name: mark.name, flushed: true });
      this.marks = [];
    }
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    for (let i = 0; i < out.length; i += 1) {
      const chunk = this.chunks[0];
      if (!chunk) { out[i] = 0; continue; }
      const index = Math.floor(this.offset);
      const next = index + 1 < chunk.length ? chunk[index + 1] : (this.chunks[1] ? this.chunks[1][0] : chunk[index]);
      const fraction = this.offset - index;
      out[i] = chunk[index] * (1 - fraction) + next * fraction;
      this.offset += this.step;
      while (this.chunks[0] && this.offset >= this.chunks[0].length) {
        this.offset -= this.chunks[0].length;
        this.played += this.chunks[0].length;
        this.queued -= this.chunks[0].length;
        this.chunks.shift();
      }
    }
    for (let c = 1; c < outputs[0].length; c += 1) outputs[0][c].set(out);
    const playedNow = this.played + Math.floor(this.offset);
    while (this.marks.length && this.marks[0].at <= playedNow) {
      this.port.postMessage({ type: 'played', name: this.marks.shift().name });
    }
    return true;
  }
}

registerProcessor('pcm-playback', PcmPlayback);
