-- think-queue 3's failed table (its `queue:failed-table` stub): integer ids users see and type,
-- fail_time instead of failed_at, no uuid. Used when [failed] uuids = false.
CREATE TABLE IF NOT EXISTS `{{table}}` (
    `id` int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `connection` text NOT NULL,
    `queue` text NOT NULL,
    `payload` longtext NOT NULL,
    `exception` longtext NOT NULL,
    `fail_time` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    KEY `{{table}}_fail_time_index` (`fail_time`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
