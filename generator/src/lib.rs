//! Pressroom static site generator.
