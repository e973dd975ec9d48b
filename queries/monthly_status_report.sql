-- Dashboard: appointments per status in one month.
SELECT status, count(*) AS appointments
FROM appointments
WHERE org_id = $1
  AND scheduled_at >= $2
  AND scheduled_at < $2 + interval '1 month'
GROUP BY status
ORDER BY status
