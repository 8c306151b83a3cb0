// The chat page: fetches a relay send URI (with a short-lived token in it,
// since browsers cannot set headers on a WebSocket) and joins through the
// relay with the browser's own WebSocket.
(function () {
  'use strict';
  var statusLine = document.getElementById('status');
  var log = document.getElementById('log');
  var form = document.getElementById('form');
  var input = document.getElementById('text');
  var button = document.getElementById('send');
  var socket;

  function add(via, text, system) {
    var item = document.createElement('li');
    if (system) item.className = 'system';
    if (via) {
      var badge = document.createElement('span');
      badge.className = 'via ' + (via.indexOf('local') === 0 ? 'local' : 'relay');
      badge.textContent = via;
      item.appendChild(badge);
    }
    item.appendChild(document.createTextNode(text));
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function setStatus(text, state) {
    statusLine.textContent = text;
    statusLine.className = state;
  }

  fetch('/relay.json', { cache: 'no-store' })
    .then(function (res) { return res.json(); })
    .then(function (config) {
      socket = new WebSocket(config.sendUri, 'chat');
      socket.onopen = function () {
        setStatus('connected through the relay (hybrid connection "' + config.path + '")', 'online');
        input.disabled = false;
        button.disabled = false;
        input.focus();
      };
      socket.onmessage = function (event) {
        var message = JSON.parse(event.data);
        if (message.system === 'welcome') add(null, 'you are ' + message.you, true);
        else add(message.from, message.text);
      };
      socket.onclose = function (event) {
        setStatus('disconnected (' + event.code + ')', 'offline');
        input.disabled = true;
        button.disabled = true;
      };
    })
    .catch(function (err) { setStatus('could not reach the relay: ' + err.message, 'offline'); });

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (!socket || socket.readyState !== WebSocket.OPEN || !input.value) return;
    socket.send(input.value);
    input.value = '';
  });
})();
