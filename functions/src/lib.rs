//! Pressroom account functions.
