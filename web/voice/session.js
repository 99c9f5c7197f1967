// Voice in the browser, shared by the Talk page and the softphone. Both speak one wire format: binary messages are
// PCM16 mono 16 kHz both ways; JSON text messages carry control.
//
// VoiceAudio: microphone -> capture worklet (16 kHz PCM16, 20 ms frames) -> onFrame; play(pcm) -> playback
// worklet. A mark queued with control({type:'mark'}) is reported through onMarkPlayed only once every sample
// before it has been rendered; control({type:'clear'}) drops queued audio and reports pending marks at once.
// VoiceSession: VoiceAudio plus the Talk websocket (marks echoed back to the server when played).
const WORKLETS = ['/voice/capture-worklet.js', '/voice/playback-worklet.js'];

export class VoiceAudio {
  constructor({ onFrame = () => {}, onMarkPlayed = () => {} } = {}) {
    this.onFrame = onFrame;
    this.onMarkPlayed = onMarkPlayed;
    this.context = null;
    this.stream = null;
    this.capture = null;
    this.playback = null;
    this.micError = null;
    this.stopped = false;
  }

  /**
   * Start the audio graph (call from a click: browsers only let audio start after a user gesture). A microphone
   * that cannot be opened is not fatal: audio still plays and `micError` says why, in words for the user.
   */
  async start({ microphone = true } = {}) {
    this.context = new AudioContext();
    for (const url of WORKLETS) await this.context.audioWorklet.addModule(url);
    this.playback = new AudioWorkletNode(this.context, 'pcm-playback', { outputChannelCount: [1] });
    this.playback.connect(this.context.destination);
    this.playback.port.onmessage = (event) => {
      if (event.data.type === 'played') this.onMarkPlayed(event.data.name, Boolean(event.data.flushed));
    };
    if (microphone) {
      try {
        await this.startMicrophone();
      } catch (error) {
        this.micError = error;
      }
    }
    await this.context.resume();
  }

  async startMicrophone() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error('This browser cannot use a microphone here (it needs an https:// page or localhost). You can type instead.');
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
    } catch (error) {
      throw new Error(error.name === 'NotAllowedError'
        ? 'Microphone access was refused. Allow it in the browser\'s site settings, or type instead.'
        : `No microphone could be opened (${error.name}). You can type instead.`);
    }
    const source = this.context.createMediaStreamSource(this.stream);
    this.capture = new AudioWorkletNode(this.context, 'pcm-capture', { numberOfOutputs: 0 });
    this.capture.port.onmessage = (event) => { if (!this.stopped) this.onFrame(event.data); };
    source.connect(this.capture);
  }

  get hasMicrophone() { return Boolean(this.stream); }

  play(pcm) {
    if (this.playback) this.playback.port.postMessage({ type: 'audio', pcm }, [pcm]);
  }

  control(message) {
    if (this.playback) this.playback.port.postMessage(message);
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    if (this.capture) this.capture.port.postMessage('stop');
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    if (this.context) this.context.close().catch(() => {});
  }
}

/** Open a websocket to `path` on this server (the CSP allows only connect-src 'self'). */
export function openSocket(path) {
  const url = new URL(path, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  return ws;
}

export class VoiceSession {
  /**
   * @param {string} path   the Talk websocket path from POST /api/talk (ws_path)
   * @param {object} hooks  onMessage(message) for JSON messages, onClose({code, reason}), onOpen()
   */
  constructor(path, { onMessage = () => {}, onClose = () => {}, onOpen = () => {} } = {}) {
    this.path = path;
    this.hooks = { onMessage, onClose, onOpen };
    this.ws = null;
    this.audio = new VoiceAudio({
      onFrame: (frame) => { if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(frame); },
      onMarkPlayed: (name) => this.sendJson({ type: 'mark', name }),
    });
    this.closed = false;
  }

  get micError() { return this.audio.micError; }

  get hasMicrophone() { return this.audio.hasMicrophone; }

  async start({ microphone = true } = {}) {
    await this.audio.start({ microphone });
    const ws = openSocket(this.path);
    this.ws = ws;
    ws.onopen = () => this.hooks.onOpen();
    ws.onmessage = (event) => {
      if (typeof event.data !== 'string') {
        this.audio.play(event.data);
        return;
      }
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.type === 'mark' || message.type === 'clear') this.audio.control(message);
      this.hooks.onMessage(message);
    };
    ws.onclose = (event) => {
      this.stop();
      this.hooks.onClose({ code: event.code, reason: event.reason });
    };
  }

  sendJson(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** End from our side: tell the server (it records the end), then close everything. */
  hangUp() {
    this.sendJson({ type: 'hangup' });
    this.stop();
  }

  stop() {
    if (this.closed) return;
    this.closed = true;
    this.audio.stop();
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, 'hung up');
  }
}
