-- think-queue 3's jobs table (its `queue:table` migration): Laravel's shape with the time columns
-- named reserve_time, available_time and create_time. Used by format = "think" connections.
-- InnoDB secondary index entries end with the primary key, so the queue index is ordered by
-- (queue, id), the pop order.
CREATE TABLE IF NOT EXISTS `{{table}}` (
    `id` bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `queue` varchar(255) NOT NULL,
    `payload` longtext NOT NULL,
    `attempts` tinyint unsigned NOT NULL,
    `reserve_time` int unsigned NULL,
    `available_time` int unsigned NOT NULL,
    `create_time` int unsigned NOT NULL,
    KEY `{{table}}_queue_index` (`queue`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
