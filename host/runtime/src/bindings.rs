//! Rust types and traits generated from `wit/engine.wit`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "pattern",
});
