<?php
// A CRM on PHP, for the tests: it says who it thinks the user is and where
// they come from, the way PHP applications commonly read it.
$ip = $_SERVER['HTTP_CLIENT_IP'] ?? $_SERVER['HTTP_X_FORWARDED_FOR'] ?? $_SERVER['REMOTE_ADDR'];
header('Content-Type: text/plain');
echo "user=" . ($_SERVER['HTTP_X_PORTCULLIS_USER'] ?? '') . "\n";
echo "groups=" . ($_SERVER['HTTP_X_PORTCULLIS_GROUPS'] ?? '') . "\n";
echo "ip=" . $ip . "\n";
echo "uri=" . $_SERVER['REQUEST_URI'] . "\n";
