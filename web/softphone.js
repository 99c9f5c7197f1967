// The softphone: with the server's built-in local carrier (no Twilio account), calls to my verified number ring
// here instead of a real phone. The page keeps a websocket to the server (GET /api/softphone/ws, one-time ticket);
// "Brad is calling: Answer / Decline"; answering makes the microphone the phone's mouth and plays what the
// phone hears. With Twilio configured, GET /api/softphone says it is unavailable and this shows only a note.
import { h, replace } from './dom.js';
import { VoiceAudio, openSocket } from './voice/session.js';

const RECONNECT_MS = 3000;

export function mount(element, ctx) {
  const phone = new Softphone(element, ctx);
  window.addEventListener('hashchange', () => phone.refresh());
  phone.refresh();
  return phone;
}

class Softphone {
  constructor(element, ctx) {
    this.element = element;
    this.ctx = ctx;
    this.ws = null;
    this.audio = null;
    this.state = 'off'; // off | unavailable | connecting | idle | ringing | answering | in-call
    this.caller = '';
    this.callId = null;
    this.retry = null;
    element.classList.add('softphone');
    element.setAttribute('aria-label', 'Softphone');
    element.setAttribute('role', 'region');
  }

  /** Connect when logged in and available; disconnect on logout. Cheap to call on every navigation. */
  async refresh() {
    if (!this.ctx.user) {
      this.disconnect();
      this.show('off');
      return;
    }
    if (this.ws || this.state === 'connecting' || this.replaced) return;
    if (this.state === 'unavailable' && this.twilio) return;
    this.state = 'connecting';
    try {
      const status = await this.ctx.api.get('/api/softphone');
      if (!status.available) {
        this.twilio = !/verify/.test(status.reason || '');
        this.show('unavailable', `Softphone: ${status.reason}.`);
        return;
      }
      const { ws_path: path } = await this.ctx.api.post('/api/softphone/ticket');
      this.connect(path, status.number);
    } catch (error) {
      this.state = 'off';
      this.scheduleReconnect();
    }
  }

  connect(path, number) {
    const ws = openSocket(path);
    this.ws = ws;
    ws.onmessage = (event) => {
      if (typeof event.data !== 'string') {
        if (this.state === 'in-call' && this.audio) this.audio.play(event.data);
        return;
      }
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      this.receive(message, number);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.endAudio();
      if (this.replaced) return;
      this.show('off');
      this.scheduleReconnect();
    };
  }

  scheduleReconnect() {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.refresh(), RECONNECT_MS);
  }

  disconnect() {
    clearTimeout(this.retry);
    const ws = this.ws;
    this.ws = null;
    this.endAudio();
    if (ws) ws.close(1000, 'logged out');
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  receive(message, number) {
    if (message.type === 'replaced') {
      this.replaced = true; // another tab has the softphone now: do not take it back
      this.show('unavailable', 'Softphone: open in another tab or window.');
    } else if (message.type === 'ready') {
      this.show('idle', `Softphone ready: calls to ${number} ring here.`);
    } else if (message.type === 'ringing') {
      this.caller = message.persona || 'Call Me Back';
      this.show('ringing');
      this.ctx.announce(`${this.caller} is calling.`);
    } else if (message.type === 'answered') {
      this.show('in-call');
      this.findCall();
    } else if (message.type === 'ended') {
      const missed = this.state === 'ringing';
      this.endAudio();
      this.show('idle', missed ? `Missed call from ${this.caller}.` : `Call with ${this.caller} ended.`);
      this.ctx.announce(missed ? `Missed call from ${this.caller}.` : 'The call has ended.');
    }
  }

  async answer() {
    this.show('answering');
    this.audio = new VoiceAudio({
      onFrame: (frame) => { if (this.state === 'in-call' && this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(frame); },
    });
    try {
      await this.audio.start({ microphone: true });
    } catch (error) {
      this.ctx.announce(`Audio could not start: ${error.message}`);
    }
    this.send({ type: 'answer' });
    if (this.audio.micError) this.ctx.announce(this.audio.micError.message);
  }

  async findCall() {
    try {
      const { calls } = await this.ctx.api.get('/api/calls?limit=1');
      this.callId = calls.length ? calls[0].id : null;
      if (this.state === 'in-call') this.show('in-call');
    } catch { /* the link is a convenience */ }
  }

  endAudio() {
    if (this.audio) this.audio.stop();
    this.audio = null;
  }

  show(state, note = '') {
    this.state = state;
    this.element.dataset.state = state;
    const button = (label, cls, onclick) => h('button', { type: 'button', class: cls, onclick }, label);
    if (state === 'off') {
      replace(this.element);
    } else if (state === 'unavailable' || state === 'idle') {
      replace(this.element, h('p', { class: 'softphone-note muted' }, note));
    } else if (state === 'ringing' || state === 'answering') {
      const answer = button('Answer', 'softphone-answer', () => this.answer());
      replace(this.element,
        h('p', { class: 'softphone-caller', role: 'alert' }, `${this.caller} is calling`),
        h('div', { class: 'row' }, answer,
          button('Decline', 'danger softphone-decline', () => { this.send({ type: 'decline' }); })));
      answer.disabled = state === 'answering';
      if (state === 'ringing') answer.focus();
    } else if (state === 'in-call') {
      replace(this.element,
        h('p', { class: 'softphone-caller' }, `On a call with ${this.caller}`),
        h('div', { class: 'row' },
          button('Hang up', 'danger softphone-hangup', () => this.send({ type: 'hangup' })),
          this.callId ? h('a', { href: `#/calls/${this.callId}` }, 'Live transcript') : null));
    }
  }
}
