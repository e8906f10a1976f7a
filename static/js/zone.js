// Tells the server the reader's time zone once, so that it writes times in it: a cookie the next
// request carries (accounts/zones.py checks the name against the zone database).
// IANA names ("Europe/Berlin", "America/Port-au-Prince") need no encoding in a cookie; the
// server reads the value as it is, so an encoded "/" would name no zone.
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const cookie = `zone=${zone}`;
if (/^[A-Za-z0-9_+/-]+$/.test(zone) && !document.cookie.split("; ").includes(cookie)) {
  const secure = location.protocol === "https:" ? "; secure" : "";
  document.cookie = `${cookie}; path=/; max-age=31536000; samesite=lax${secure}`;
}
