-- Laravel's jobs table. InnoDB secondary index entries end with the primary key, so the queue
-- index is ordered by (queue, id), the pop order.
CREATE TABLE IF NOT EXISTS `{{table}}` (
    `id` bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `queue` varchar(255) NOT NULL,
    `payload` longtext NOT NULL,
    `attempts` tinyint unsigned NOT NULL,
    `reserved_at` int unsigned NULL,
    `available_at` int unsigned NOT NULL,
    `created_at` int unsigned NOT NULL,
    KEY `{{table}}_queue_index` (`queue`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
