// Live package updates from the broadcaster, resumed after a disconnect with
// `since_seq` (the broadcaster replays what was missed, in order) instead of
// reloading the page.

export async function pageSettings() {
  try {
    const response = await fetch("/web-config.json");
    if (response.ok) return await response.json();
  } catch {
    // defaults below
  }
  return {};
}

/** The broadcaster's /ws address: configured, or this host on port 8081. */
export function websocketBase(settings) {
  if (settings.websocket_url) return settings.websocket_url.replace(/\/$/, "");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.hostname}:8081/ws`;
}

/** The JSON a broadcaster frame carries, or `{}` if it is not JSON. */
export function messageOf(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return {};
  }
}

/**
 * Watches packages over `url`. `onUpdate(message)` gets each package_update;
 * `onPosition(message)` each package_position (the package moving with its
 * courier: no seq, newest fix of the courier); `onState("live" |
 * "reconnecting")` the connection's state. Returns a function that stops
 * watching.
 */
export function watch(url, numbers, { since = {}, onUpdate, onPosition = () => {}, onState = () => {} }) {
  const seqs = new Map(numbers.map((n) => [n, since[n] ?? 0]));
  let socket;
  let delay = 500;
  let stopped = false;

  const connect = () => {
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      delay = 500;
      onState("live");
      for (const [number, seq] of seqs) {
        socket.send(JSON.stringify({ type: "subscribe", tracking_number: number, since_seq: seq }));
      }
    });
    socket.addEventListener("message", (event) => {
      const message = messageOf(event);
      if (message.type === "package_update") {
        const known = seqs.get(message.tracking_number) ?? 0;
        if (message.seq <= known) return; // already shown
        seqs.set(message.tracking_number, message.seq);
        onUpdate(message);
      } else if (message.type === "package_position") {
        onPosition(message);
      } else if (message.type === "gap") {
        seqs.set(message.tracking_number, Math.max(seqs.get(message.tracking_number) ?? 0, message.to));
      }
    });
    socket.addEventListener("close", () => {
      if (stopped) return;
      onState("reconnecting");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    });
  };
  connect();
  return () => {
    stopped = true;
    socket?.close();
  };
}
