//! What a stranger cannot do: prove an email they do not own, keep a revoked session, forge broker messages, take every slot or limit.

mod broker;
mod connections;
mod email_proof;
mod limits;
mod sessions;
mod smaller;
