"""Exact values from ``webhook-cases.md`` (the conventions table), shared by the tests."""

from __future__ import annotations

S = "7f3c1e9a2b4d6f8091a2b3c4d5e6f708"
S2 = "0badc0de0badc0de0badc0de0badc0de"

B_HB = b'{"events":[]}'
SIG_HB = "46df30a7fe01f9d0bd48dae9ff1b553075fab346f1b3bef2a40b3cb37f78c795"

B_EV = (
    b'{"events":[{"user":{"gid":"4000000000000001","resource_type":"user"},'
    b'"created_at":"2024-03-05T10:15:00.000Z","action":"changed",'
    b'"resource":{"gid":"4000000000000002","resource_type":"task","resource_subtype":"default_task"},'
    b'"parent":null,"change":{"field":"name","action":"changed"}}]}'
)
SIG_EV = "5eee0b9b87f9b67df18f804612883e987793a4e1c8255dda441452bca746aa52"

#: HMAC over Python's ``str(B_HB)`` (the W05 bug).
SIG_STR_REPR = "6560585b775df5e94d2ebe9873acc8805ce36d178fe7b19c578ff2f9ae1a1674"
#: Base64 of the right digest (W07 b).
SIG_BASE64 = "Rt8wp/4B+dC9SNrp/xtVMHX6s0bxs77ypAs8s394x5U="
#: HMAC of B_HB under an empty key (W08).
SIG_EMPTY_KEY = "1d4bb05748163f0d436bb86d78f5cf6acf5e88beeef39d675fcded7e525785c3"

PROJECT_GID = "1200000000000002"
WEBHOOK_GID = "1400000000000004"
WEBHOOK_GID_2 = "1400000000000008"
