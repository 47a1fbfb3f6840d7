// The migrations are embedded by `sqlx::migrate!`; without this, adding a
// migration file does not rebuild the crate and the services start with the
// old set (what sqlx's documentation recommends).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
