//! Accounts: signing up and in, sessions, roles, couriers' runs and devices.

mod deliveries;
mod devices;
mod role_table;
mod sign_in;
mod websocket;
mod worker_policy;
