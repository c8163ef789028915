// A webcam with a live preview and an oval guide; takes one JPEG photo (base64, no prefix).
import { t, apply } from "./i18n.js";

export class Camera {
  constructor(container) {
    this.container = container;
    this.stream = null;
    this.photo = null;
    container.innerHTML = `
      <div class="viewport">
        <video playsinline muted></video>
        <img alt="" hidden>
        <div class="oval" aria-hidden="true"></div>
      </div>
      <p class="hint camera-hint" data-i18n="camera.guide"></p>
      <div class="row">
        <button type="button" class="cam-start" data-i18n="camera.start"></button>
        <button type="button" class="cam-take" data-i18n="camera.take" disabled></button>
        <button type="button" class="cam-retake" data-i18n="camera.retake" hidden></button>
      </div>
      <p class="cam-state" aria-live="polite"></p>`;
    apply(container);
    this.video = container.querySelector("video");
    this.still = container.querySelector("img");
    this.state = container.querySelector(".cam-state");
    container.querySelector(".cam-start").addEventListener("click", () => this.start());
    container.querySelector(".cam-take").addEventListener("click", () => this.take());
    container.querySelector(".cam-retake").addEventListener("click", () => this.retake());
  }

  async start() {
    if (this.stream) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.say("camera.unavailable");
      return;
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: "user" }, audio: false,
      });
    } catch {
      this.say("camera.denied");
      return;
    }
    this.video.srcObject = this.stream;
    await this.video.play();
    this.container.querySelector(".cam-take").disabled = false;
    this.container.querySelector(".cam-start").hidden = true;
    this.say("camera.live");
  }

  take() {
    const { videoWidth: w, videoHeight: h } = this.video;
    if (!w || !h) { this.say("camera.notready"); return; }
    const canvas = document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    canvas.getContext("2d").drawImage(this.video, 0, 0, w, h);
    const url = canvas.toDataURL("image/jpeg", 0.92);
    this.photo = url.slice(url.indexOf(",") + 1);
    this.still.src = url;
    this.still.hidden = false;
    this.video.hidden = true;
    this.container.querySelector(".cam-take").hidden = true;
    this.container.querySelector(".cam-retake").hidden = false;
    this.say("camera.taken");
  }

  // Back to the live preview for another photo (after a quality refusal: one click).
  retake() {
    this.photo = null;
    this.still.hidden = true;
    this.still.removeAttribute("src");
    this.video.hidden = false;
    this.container.querySelector(".cam-take").hidden = false;
    this.container.querySelector(".cam-retake").hidden = true;
    this.say(this.stream ? "camera.live" : "camera.off");
  }

  stop() {
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    this.stream = null;
    this.video.srcObject = null;
    this.container.querySelector(".cam-start").hidden = false;
    this.container.querySelector(".cam-take").disabled = true;
  }

  say(key) { this.state.dataset.i18n = key; this.state.textContent = t(key); }
}
