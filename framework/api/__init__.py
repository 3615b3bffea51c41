"""HTTP handlers, one thin module per spec."""
