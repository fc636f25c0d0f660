"""Reading, deciding on and auditing cases, as people do it: the need-to-know policy
(``access.policy``) allows each act first, every read states its purpose and is logged
with the proven person, every audit is for a supervisor or the Director. The HTTP API,
the web app and the codec server are thin shells over this."""
