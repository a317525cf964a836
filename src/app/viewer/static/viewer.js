// nerfedit web viewer: orbit a trained scene rendered by the server (POST /api/render), no build step, no CDN.
// Scenes are Z-up; poses are world_from_cam with OpenGL camera axes (+x right, +y up, looking down -z).
'use strict';

(() => {
  const PREVIEW_DIVISOR = 4;  // resolution divisor while the view moves
  const SETTLE_MS = 200;      // still this long -> full resolution
  const MAX_IN_FLIGHT = 3;    // the server supersedes our queued requests, so a few in flight cost nothing
  const UP = [0, 0, 1];

  const $ = (id) => document.getElementById(id);
  const canvas = $('view');
  const context = canvas.getContext('2d');
  const statusLine = $('status');

  const state = {
    info: null,
    cameras: [],
    clientId: 'tab-' + Math.random().toString(36).slice(2, 10) + Date.now().toString(36),
    // Orbit camera: eye = target + radius * (cos el cos az, cos el sin az, sin el).
    target: [0, 0, 0], azimuth: 0.6, elevation: 0.5, radius: 4, fovX: 50,
    snappedCamera: -1,  // index of the training camera shown exactly (with its roll) until the user moves
    mode: 'rgb',
    sequence: 0,        // of the last render request sent
    selectSequence: 0,  // of the last selection request sent
    shownSequence: -1,  // of the picture on the canvas; older responses are dropped
    inFlight: 0,
    dirty: false,       // the view changed since the last request
    wantFull: false,    // next request at full resolution
    settleTimer: null,
    lastShown: null,    // {sequence, width, height, full, renderMs, roundTripMs, depthNear, depthFar}
    selectionMask: null,  // ImageBitmap overlay from /api/select, for the view it was computed for
    lastError: '',
    shownCount: { preview: 0, full: 0 },  // pictures drawn, by kind (progressive refinement is observable)
  };

  // ---- small vector maths ----
  const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
  const scale = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const norm = (a) => Math.sqrt(dot(a, a));
  const normalize = (a) => scale(a, 1 / (norm(a) || 1));
  const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));

  function eyePosition() {
    const ce = Math.cos(state.elevation);
    return add(state.target, scale([ce * Math.cos(state.azimuth), ce * Math.sin(state.azimuth), Math.sin(state.elevation)],
                                   state.radius));
  }

  // world_from_cam of the orbit camera: columns right, up, backward (-forward), eye.
  function orbitBasis() {
    const eye = eyePosition();
    const forward = normalize(sub(state.target, eye));
    const right = normalize(cross(forward, UP));
    const up = cross(right, forward);
    return { eye, forward, right, up };
  }

  function currentPose() {
    if (state.snappedCamera >= 0) return state.cameras[state.snappedCamera].transform_matrix;
    const { eye, forward, right, up } = orbitBasis();
    return [
      [right[0], up[0], -forward[0], eye[0]],
      [right[1], up[1], -forward[1], eye[1]],
      [right[2], up[2], -forward[2], eye[2]],
      [0, 0, 0, 1],
    ];
  }

  function aabbCentreAndSize() {
    const [lo, hi] = state.info ? state.info.aabb : [[-1, -1, -1], [1, 1, 1]];
    return { centre: scale(add(lo, hi), 0.5), size: norm(sub(hi, lo)) };
  }

  function resetView() {
    const { centre, size } = aabbCentreAndSize();
    state.target = centre;
    state.azimuth = 0.6;
    state.elevation = 0.45;
    state.radius = 1.1 * size;
    state.fovX = 50;
    unsnap();
    viewChanged(false);
  }

  // Shows training camera `index` exactly, and sets the orbit so the next drag starts from this view.
  function snapToCamera(index) {
    const camera = state.cameras[index];
    const m = camera.transform_matrix;
    const eye = [m[0][3], m[1][3], m[2][3]];
    const forward = normalize([-m[0][2], -m[1][2], -m[2][2]]);
    const { centre, size } = aabbCentreAndSize();
    let distance = dot(sub(centre, eye), forward);  // orbit around the point of the view ray nearest the scene centre
    if (!(distance > 0.05 * size)) distance = norm(sub(centre, eye)) || size;
    state.target = add(eye, scale(forward, distance));
    state.radius = distance;
    const back = scale(forward, -1);
    state.elevation = Math.asin(clamp(back[2], -1, 1));
    state.azimuth = Math.atan2(back[1], back[0]);
    state.fovX = 2 * Math.atan(camera.w / (2 * camera.fl_x)) * 180 / Math.PI;
    state.snappedCamera = index;
    $('camera-select').value = String(index);
    viewChanged(false);
  }

  function unsnap() {
    if (state.snappedCamera < 0) return;
    state.snappedCamera = -1;
    $('camera-select').value = '-1';
  }

  // ---- render scheduling: low resolution while moving, full resolution once still ----
  function viewChanged(moving) {
    state.dirty = true;
    state.wantFull = !moving;
    state.selectionMask = null;
    clearTimeout(state.settleTimer);
    state.settleTimer = null;
    if (moving) {
      state.settleTimer = setTimeout(() => {
        state.settleTimer = null;
        state.dirty = true;
        state.wantFull = true;
        schedule();
      }, SETTLE_MS);
    }
    schedule();
  }

  let frameRequested = false;
  function schedule() {
    if (frameRequested) return;
    frameRequested = true;
    requestAnimationFrame(() => {
      frameRequested = false;
      if (state.dirty && state.info && state.inFlight < MAX_IN_FLIGHT) sendRender();
    });
  }

  function targetResolution(full) {
    const rect = canvas.getBoundingClientRect();
    let w = Math.max(1, Math.round(rect.width));
    let h = Math.max(1, Math.round(rect.height));
    const limit = state.info ? state.info.max_pixels : 1 << 20;
    if (w * h > limit) {
      const s = Math.sqrt(limit / (w * h));
      w = Math.max(1, Math.floor(w * s));
      h = Math.max(1, Math.floor(h * s));
    }
    if (!full) {
      w = Math.max(1, Math.round(w / PREVIEW_DIVISOR));
      h = Math.max(1, Math.round(h / PREVIEW_DIVISOR));
    }
    return [w, h];
  }

  function viewRequest(width, height) {
    return { pose: currentPose(), width, height, fov_x_degrees: state.fovX };
  }

  async function sendRender() {
    const full = state.wantFull;
    state.dirty = false;
    const [width, height] = targetResolution(full);
    const sequence = ++state.sequence;
    const body = Object.assign(viewRequest(width, height), {
      mode: state.mode, format: 'jpeg', quality: full ? 90 : 75, client: state.clientId, request: sequence,
    });
    state.inFlight++;
    const started = performance.now();
    try {
      const response = await fetch('api/render', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      if (response.status === 409) return;  // superseded by our own newer request
      if (!response.ok) throw new Error(await errorText(response));
      const blob = await response.blob();
      if (sequence < state.shownSequence) return;  // a newer picture is already shown
      const bitmap = await createImageBitmap(blob);
      if (sequence < state.shownSequence) return;
      canvas.width = width;
      canvas.height = height;
      context.imageSmoothingEnabled = true;
      context.drawImage(bitmap, 0, 0, width, height);
      state.shownSequence = sequence;
      state.shownCount[full ? 'full' : 'preview']++;
      state.lastShown = {
        sequence, width, height, full,
        renderMs: parseFloat(response.headers.get('X-Render-Ms')),
        roundTripMs: performance.now() - started,
        depthNear: response.headers.get('X-Depth-Near'),
        depthFar: response.headers.get('X-Depth-Far'),
      };
      state.lastError = '';
      drawSelection();
      updateStatus();
    } catch (error) {
      state.lastError = String(error.message || error);
      updateStatus();
    } finally {
      state.inFlight--;
      if (state.dirty) schedule();
    }
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      return `${response.status}: ${body.error}`;
    } catch (_) {
      return `HTTP ${response.status}`;
    }
  }

  function updateStatus() {
    const s = state.lastShown;
    const parts = [state.info ? state.info.run : 'nerfedit'];
    if (s) {
      parts.push(state.mode);
      parts.push(`${s.width}\u00d7${s.height}${s.full ? '' : ' preview'}`);
      parts.push(`render ${s.renderMs.toFixed(1)} ms`);
      parts.push(`round trip ${s.roundTripMs.toFixed(0)} ms`);
      if (state.mode === 'depth' && s.depthNear !== null) parts.push(`depth ${s.depthNear} (red) \u2192 ${s.depthFar} (blue)`);
    }
    if (state.snappedCamera >= 0) parts.push(`camera ${state.snappedCamera}`);
    if (state.lastError) parts.push('error ' + state.lastError);
    statusLine.textContent = parts.join(' \u00b7 ');
    statusLine.classList.toggle('error', !!state.lastError);
  }

  // ---- mouse: left drag orbits, right or shift drag pans, wheel zooms ----
  let drag = null;
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture(e.pointerId);
    drag = { x: e.clientX, y: e.clientY, pan: e.button === 2 || e.shiftKey, moved: false };
    canvas.classList.add('dragging');
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (dx === 0 && dy === 0) return;
    drag.x = e.clientX;
    drag.y = e.clientY;
    drag.moved = true;
    unsnap();
    if (drag.pan) {
      const { right, up } = orbitBasis();
      const rect = canvas.getBoundingClientRect();
      const unitsPerPixel = 2 * state.radius * Math.tan(state.fovX * Math.PI / 360) / Math.max(1, rect.width);
      state.target = add(state.target, add(scale(right, -dx * unitsPerPixel), scale(up, dy * unitsPerPixel)));
    } else {
      state.azimuth -= dx * 0.008;
      state.elevation = clamp(state.elevation + dy * 0.008, -1.55, 1.55);  // stay off the poles: up is +z
    }
    viewChanged(true);
  });
  const endDrag = (e) => {
    if (!drag) return;
    const wasClick = !drag.moved;
    drag = null;
    canvas.classList.remove('dragging');
    if (wasClick && $('click-select').checked && !$('edit-panel').hidden) selectAtPixel(e);
  };
  canvas.addEventListener('pointerup', endDrag);
  canvas.addEventListener('pointercancel', endDrag);
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    unsnap();
    const { size } = aabbCentreAndSize();
    state.radius = clamp(state.radius * Math.exp(e.deltaY * 0.0015), 0.02 * size, 20 * size);
    viewChanged(true);
  }, { passive: false });
  window.addEventListener('resize', () => viewChanged(true));

  $('camera-select').addEventListener('change', (e) => {
    const index = parseInt(e.target.value, 10);
    if (index >= 0) snapToCamera(index); else { unsnap(); viewChanged(false); }
  });
  for (const radio of document.querySelectorAll('input[name=mode]')) {
    radio.addEventListener('change', (e) => { state.mode = e.target.value; viewChanged(false); });
  }
  $('reset-view').addEventListener('click', resetView);

  // ---- selection and edits (feature-field runs; the endpoints come with that pipeline) ----
  function setEditStatus(text) { $('edit-status').textContent = text; }

  async function postJson(path, body) {
    const response = await fetch(path.slice(1), {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(await errorText(response));
    return response;
  }

  // POST /api/select: the current view plus {query} or {pixel:[x,y]} -> a PNG mask of the selection in that view.
  async function requestSelection(extra) {
    const [width, height] = targetResolution(true);
    // Its own client id and counter: a selection must not supersede (or be superseded by) a queued render.
    const body = Object.assign(viewRequest(width, height),
                               { client: state.clientId + '-select', request: ++state.selectSequence }, extra);
    try {
      const response = await postJson('/api/select', body);
      state.selectionMask = await createImageBitmap(await response.blob());
      drawSelection();
      setEditStatus(extra.query ? `selected "${extra.query}"` : 'selected by click');
    } catch (error) {
      setEditStatus(String(error.message || error));
    }
  }

  function drawSelection() {
    if (!state.selectionMask || !$('show-mask').checked) return;
    context.save();
    context.globalAlpha = 0.45;
    context.globalCompositeOperation = 'source-over';
    context.drawImage(state.selectionMask, 0, 0, canvas.width, canvas.height);
    context.restore();
  }

  function selectAtPixel(e) {
    const rect = canvas.getBoundingClientRect();
    const [width, height] = targetResolution(true);
    const x = Math.floor((e.clientX - rect.left) / rect.width * width);
    const y = Math.floor((e.clientY - rect.top) / rect.height * height);
    requestSelection({ pixel: [x, y] });
  }

  async function applyEdit(path, body) {
    try {
      const response = await postJson(path, body);
      const reply = await response.json().catch(() => ({}));
      setEditStatus(reply.message || `${path.replace('/api/', '')} done`);
      viewChanged(false);
    } catch (error) {
      setEditStatus(String(error.message || error));
    }
  }

  $('query-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const query = $('query').value.trim();
    if (query) requestSelection({ query });
  });
  $('show-mask').addEventListener('change', () => viewChanged(false));
  $('click-select').addEventListener('change', (e) => canvas.classList.toggle('picking', e.target.checked));
  $('edit-delete').addEventListener('click', () => applyEdit('/api/edit', { op: 'delete' }));
  $('edit-recolour').addEventListener('click', () => applyEdit('/api/edit', { op: 'recolour', colour: $('recolour-colour').value }));
  for (const button of document.querySelectorAll('.move-button')) {
    button.addEventListener('click', () => {
      const offset = [0, 0, 0];
      offset[parseInt(button.dataset.axis, 10)] = parseFloat(button.dataset.sign) * parseFloat($('move-step').value || '0');
      applyEdit('/api/edit', { op: 'move', offset });
    });
  }
  $('edit-undo').addEventListener('click', () => applyEdit('/api/undo', {}));
  $('edit-save').addEventListener('click', () => applyEdit('/api/save', {}));

  function setUpEditPanel(info) {
    const panel = $('edit-panel');
    panel.hidden = !info.has_features;
    if (panel.hidden) return;
    const available = new Set(info.endpoints || []);
    for (const control of panel.querySelectorAll('[data-endpoint]')) {
      const ok = available.has('POST ' + control.dataset.endpoint);
      control.disabled = !ok;
      if (!ok) control.title = `this server has no ${control.dataset.endpoint} yet`;
    }
  }

  // ---- start-up ----
  async function start() {
    try {
      const [info, cameras] = await Promise.all([
        fetch('api/info').then((r) => (r.ok ? r.json() : Promise.reject(new Error('api/info: HTTP ' + r.status)))),
        fetch('api/cameras').then((r) => (r.ok ? r.json() : Promise.reject(new Error('api/cameras: HTTP ' + r.status)))),
      ]);
      state.info = info;
      state.cameras = cameras;
      document.title = `${info.run} \u2014 nerfedit viewer`;
      $('run-name').textContent = `nerfedit \u00b7 ${info.run}`;
      const select = $('camera-select');
      for (const camera of cameras) {
        const option = document.createElement('option');
        option.value = String(camera.index);
        option.textContent = `camera ${camera.index} (${camera.w}\u00d7${camera.h})`;
        select.appendChild(option);
      }
      setUpEditPanel(info);
      resetView();
    } catch (error) {
      state.lastError = String(error.message || error);
      updateStatus();
    }
  }

  // Hooks for tests and the console: idle() is true once the full-resolution picture of the current view is shown.
  window.nerfeditViewer = {
    state,
    idle: () => !!state.info && !state.dirty && state.inFlight === 0 && state.settleTimer === null &&
                !!state.lastShown && state.lastShown.full && state.shownSequence === state.sequence,
  };

  start();
})();
