//! The WebSocket fan-out of result events. A placeholder until its issue lands:
//! the binary starts, logs that it is not implemented yet, and waits for shutdown.
