# Days left on a PEM certificate, as key=value lines (days_left, not_after). Only reads: openssl
# prints the end date of the certificate, date turns it into seconds. Needs GNU date (date -d).
# Edit the path below for your service; CERT_FILE in the environment overrides it (tests).
cert="${CERT_FILE:-/etc/nginx/ssl/server.crt}"
if [ ! -r "$cert" ]; then
    echo "cannot read the certificate $cert (edit the cert= line of cert_days.sh)" >&2
    exit 2
fi
end_date=$(openssl x509 -in "$cert" -noout -enddate) || exit 2
not_after="${end_date#notAfter=}"
end=$(date -u -d "$not_after" +%s) || exit 2
now=$(date -u +%s)
# whole days (shell division truncates); negative once expired by more than a day
echo "days_left=$(( (end - now) / 86400 ))"
echo "not_after=$not_after"
