//! Payment providers: the built-in fake provider (default) and KakaoPay.
