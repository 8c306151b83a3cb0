// The demo page: two panes join the same chat, one with a local WebSocket
// straight to the application, one through the relay (its address carries
// a short-lived Send-only token, since browsers cannot set headers on a
// WebSocket). Each message shows the path it came in by; the state line
// shows the relay's live state. `?pane=local` or `?pane=relay` shows one.
(function () {
  'use strict';
  var only = new URLSearchParams(location.search).get('pane');

  function Pane(element) {
    this.element = element;
    this.via = element.getAttribute('data-via');
    this.status = element.querySelector('.status');
    this.log = element.querySelector('.log');
    this.input = element.querySelector('input');
    this.button = element.querySelector('button');
    var self = this;
    element.querySelector('form').addEventListener('submit', function (event) {
      event.preventDefault();
      if (!self.socket || self.socket.readyState !== WebSocket.OPEN || !self.input.value) return;
      self.socket.send(self.input.value);
      self.input.value = '';
    });
  }

  Pane.prototype.setStatus = function (text, state) {
    this.status.textContent = text;
    this.status.className = 'status ' + state;
  };

  Pane.prototype.add = function (via, text, system) {
    var item = document.createElement('li');
    if (system) item.className = 'system';
    if (via) {
      var badge = document.createElement('span');
      badge.className = 'via ' + via;
      badge.textContent = via === 'relay' ? 'via relay' : 'local';
      item.appendChild(badge);
    }
    item.appendChild(document.createTextNode(text));
    this.log.appendChild(item);
    this.log.scrollTop = this.log.scrollHeight;
  };

  Pane.prototype.join = function (uri, label) {
    var self = this;
    var socket = new WebSocket(uri, 'chat');
    this.socket = socket;
    socket.onopen = function () {
      self.setStatus('connected ' + label, 'online');
      self.input.disabled = false;
      self.button.disabled = false;
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.system === 'welcome') self.add(null, 'you are ' + message.you, true);
      else self.add(message.via, message.from + ': ' + message.text);
    };
    socket.onclose = function (event) {
      self.setStatus('disconnected (' + event.code + ')', 'offline');
      self.input.disabled = true;
      self.button.disabled = true;
    };
  };

  var local = new Pane(document.getElementById('pane-local'));
  var relay = new Pane(document.getElementById('pane-relay'));
  if (only === 'local' || only === 'relay') {
    (only === 'local' ? relay : local).element.hidden = true;
    document.getElementById('panes').className = 'panes single';
  }

  fetch('/relay.json', { cache: 'no-store' })
    .then(function (res) { return res.json(); })
    .then(function (config) {
      if (only !== 'relay') local.join(config.localUri, 'locally');
      if (only === 'local') return;
      if (config.sendUri) relay.join(config.sendUri, 'through the relay (hybrid connection "' + config.path + '")');
      else relay.setStatus(config.reason, 'offline');
    })
    .catch(function (err) {
      local.setStatus('could not load the page settings: ' + err.message, 'offline');
      relay.setStatus('could not load the page settings: ' + err.message, 'offline');
    });

  function showState() {
    fetch('/state.json', { cache: 'no-store' })
      .then(function (res) { return res.json(); })
      .then(function (state) {
        var online = document.getElementById('relay-online');
        online.textContent = state.relay.online ? 'listener online' : 'listener offline' + (state.relay.lastError ? ' (' + state.relay.lastError + ')' : '');
        online.className = state.relay.online ? 'online' : 'offline';
        document.getElementById('relay-where').textContent = 'hybrid connection "' + state.relay.path + '" at ' + state.relay.address + ', keepalive ' + state.relay.keepalive;
        document.getElementById('count-local').textContent = state.clients.local;
        document.getElementById('count-relay').textContent = state.clients.relay;
        var dashboard = document.getElementById('dashboard');
        dashboard.textContent = '';
        if (state.dashboard) {
          var link = document.createElement('a');
          link.href = state.dashboard;
          link.target = '_blank';
          link.textContent = 'relay dashboard';
          dashboard.appendChild(link);
        }
      })
      .catch(function () {
        var online = document.getElementById('relay-online');
        online.textContent = 'the application is not answering';
        online.className = 'offline';
      });
  }
  showState();
  setInterval(showState, 1000);
})();
