"""TOTP devices: a virtual authenticator app and seed-provisioned hardware tokens.

`otp` (the account model and code arithmetic), `uri` (otpauth:// URIs), `migration` and
`protobuf` (Google Authenticator exports), `qr` (enrolment PNGs), `app` (the virtual app),
`token` and `sealing` (a hardware token and its sealed state), `factory` and `provisioning`
(minting batches and their RFC 6030 PSKC seed files), `storage` (atomic private files).
"""
