"""The console: server-rendered sign-in and "My security credentials" pages over the library."""
