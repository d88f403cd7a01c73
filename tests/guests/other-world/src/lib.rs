//! A component that targets another world: it imports a function the host
//! does not offer and exports nothing the host expects.

wit_bindgen::generate!({
    inline: "
        package test:other;
        interface clock { now: func() -> u64; }
        world other {
            import clock;
            export run: func() -> u64;
        }
    ",
    world: "other",
});

struct Other;

impl Guest for Other {
    fn run() -> u64 {
        test::other::clock::now()
    }
}

export!(Other);
