<?php
/*
 * serversync's PHP shim: loads one WHMCS server module the way WHMCS does and calls
 * NAME_MetaData() (mode "meta") or NAME_ListAccounts($params) (mode "list").
 *
 * Usage (serversync runs it; no shell):
 *   php shim.php MODE OUTCOME_FILE RESULT_FILE LOG_FILE DB_FILE   < input.json
 *
 * input.json: {"module": {"name", "file", "dir", "modules_dir", "root", "vendor_autoload"},
 *              "params": {...WHMCS server parameters...}, "server_row": {...tblservers...},
 *              "hosting": [...tblhosting rows...], "products": [...tblproducts rows...],
 *              "secrets": ["..."]}
 *
 * Channels: the module's own output (echo, warnings, HTML) never reaches serversync's
 * reading of the answer. The answer goes to files in serversync's private temp dir:
 * OUTCOME_FILE gets one small JSON object written once at shutdown, {"kind": "ok" | "php" |
 * "unsupported" | "exit" | "load" | "protocol" | "input", ...}; RESULT_FILE gets the JSON
 * encoding of NAME_ListAccounts()'s return value (mode "list", kind "ok"); LOG_FILE gets one
 * JSON object per logModuleCall()/logActivity() call, masked, at most LOG_CAP bytes.
 * Standard output is swallowed by an output buffer (its last bytes are kept for the error
 * of a module that calls exit()/die()); PHP's messages go to stderr.
 */

namespace WHMCS\Service {
    /** WHMCS\Service\Status: the service status names WHMCS uses (tblhosting.domainstatus). */
    class Status
    {
        const PENDING = 'Pending';
        const ACTIVE = 'Active';
        const SUSPENDED = 'Suspended';
        const TERMINATED = 'Terminated';
        const CANCELLED = 'Cancelled';
        const FRAUD = 'Fraud';
        const COMPLETED = 'Completed';
    }
}

namespace WHMCS\Config {
    /** WHMCS\Config\Setting::getValue(): reads the shim's $CONFIG. */
    class Setting
    {
        public static function getValue($name)
        {
            return isset($GLOBALS['CONFIG'][$name]) ? $GLOBALS['CONFIG'][$name] : null;
        }
    }
}

namespace Serversync {
    /** Thrown by the WHMCS functions serversync does not provide (localAPI, …). */
    class NotProvided extends \RuntimeException
    {
    }

    final class Shim
    {
        const LOG_CAP = 1048576;
        const FIELD_CAP = 4000;
        const TAIL = 400;
        const ENC_PREFIX = 'ssenc1:';

        public static $mode = '';
        public static $outcomeFile = '';
        public static $resultFile = '';
        public static $logFile = '';
        public static $dbFile = '';
        public static $module = array();
        public static $input = array();
        public static $secrets = array();
        /** The outcome, set by the main flow; null until it finished (exit() leaves it null). */
        public static $outcome = null;
        /** The first WHMCS function the module called that the shim does not provide. */
        public static $unsupported = null;
        public static $tail = '';
        public static $logBytes = 0;
        public static $logFull = false;
        public static $loader = null;
        public static $capsuleBooted = false;
        public static $booting = false;

        public static function unsupported($what)
        {
            if (self::$unsupported === null) {
                self::$unsupported = $what;
            }
            throw new NotProvided("$what is not provided by serversync");
        }

        /** Replaces every secret (4+ bytes) and every extra mask value (1+ bytes). */
        public static function mask($text, $extra = array())
        {
            $text = (string) $text;
            foreach ($extra as $m) {
                if (is_scalar($m) && (string) $m !== '' && !is_bool($m)) {
                    $text = str_replace((string) $m, '********', $text);
                }
            }
            foreach (self::$secrets as $s) {
                if (strlen($s) >= 4) {
                    $text = str_replace($s, '[redacted]', $text);
                }
            }
            return $text;
        }

        /** Any value as text for the log: masked in its strings first, then as a whole. */
        public static function logText($v, $extra)
        {
            if (is_array($v)) {
                array_walk_recursive($v, function (&$leaf) use ($extra) {
                    if (is_string($leaf)) {
                        $leaf = Shim::mask($leaf, $extra);
                    }
                });
            }
            if (is_string($v)) {
                $s = $v;
            } elseif (is_scalar($v) || $v === null) {
                $s = var_export($v, true);
            } else {
                $s = json_encode($v, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE
                    | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR);
                if (!is_string($s)) {
                    $s = '(' . gettype($v) . ')';
                }
            }
            $s = self::mask($s, $extra);
            if (strlen($s) > self::FIELD_CAP) {
                $s = substr($s, 0, self::FIELD_CAP) . '…';
            }
            return $s;
        }

        public static function log(array $entry)
        {
            if (self::$logFull || self::$logFile === '') {
                return;
            }
            $line = json_encode($entry, JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE);
            if (!is_string($line)) {
                return;
            }
            $line .= "\n";
            if (self::$logBytes + strlen($line) > self::LOG_CAP) {
                self::$logFull = true;
                $line = "{\"truncated\":true}\n";
            }
            self::$logBytes += strlen($line);
            @file_put_contents(self::$logFile, $line, FILE_APPEND);
        }

        /** Output buffer callback: keeps the last bytes of the module's output, prints nothing. */
        public static function swallow($buffer)
        {
            if ($buffer !== '') {
                self::$tail = substr(self::$tail . $buffer, -self::TAIL);
            }
            return '';
        }

        /** A file path as shown in messages: relative to the modules folder when inside it. */
        public static function where($file)
        {
            $base = rtrim((string) self::$module['modules_dir'], '/') . '/';
            if ($file === __FILE__) {
                return 'serversync shim';
            }
            if (strncmp($file, $base, strlen($base)) === 0) {
                return substr($file, strlen($base));
            }
            return basename($file);
        }

        public static function describe(\Throwable $e)
        {
            return get_class($e) . ': ' . $e->getMessage() . ' (' . self::where($e->getFile())
                . ':' . $e->getLine() . ')';
        }

        /** The outcome for an exception that left the module. */
        public static function failure(\Throwable $e)
        {
            if ($e instanceof NotProvided && self::$unsupported !== null) {
                return array('kind' => 'unsupported', 'function' => self::$unsupported);
            }
            if ($e instanceof \Error
                && preg_match('/^Class "(WHMCS\\\\[^"]+)" not found/', $e->getMessage(), $m)) {
                return array('kind' => 'unsupported', 'function' => 'the WHMCS class ' . $m[1]);
            }
            return array('kind' => 'php', 'message' => self::describe($e));
        }

        public static function finish()
        {
            $outcome = self::$outcome;
            if ($outcome === null) {
                // exit()/die() or a fatal error: pass what is still buffered through
                // swallow() so that the message of die("...") is in the tail.
                while (ob_get_level() > 0 && @ob_end_flush()) {
                }
                $err = error_get_last();
                $fatal = E_ERROR | E_PARSE | E_CORE_ERROR | E_COMPILE_ERROR | E_USER_ERROR;
                if ($err !== null && ($err['type'] & $fatal)) {
                    $outcome = array('kind' => 'php', 'message' => $err['message'] . ' ('
                        . self::where($err['file']) . ':' . $err['line'] . ')');
                } else {
                    $outcome = array('kind' => 'exit', 'output' => self::$tail);
                }
            }
            if ($outcome['kind'] === 'ok' && self::$unsupported !== null) {
                // The module caught the exception and carried on: its answer cannot be whole.
                $outcome = array('kind' => 'unsupported', 'function' => self::$unsupported);
            }
            $json = json_encode($outcome, JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE
                | JSON_PARTIAL_OUTPUT_ON_ERROR);
            @file_put_contents(self::$outcomeFile, $json);
        }

        /** The autoloader for what the shim provides lazily and the module's own lib/ classes. */
        public static function autoload($class)
        {
            $c = ltrim($class, '\\');
            $lc = strtolower($c);
            if ($lc === 'whmcs\\carbon') {
                if (class_exists('Carbon\\Carbon')) {
                    class_alias('Carbon\\Carbon', 'WHMCS\\Carbon');
                }
                return;
            }
            if ($lc === 'whmcs\\database\\capsule') {
                self::bootCapsule();
                return;
            }
            if ($lc === 'illuminate\\database\\capsule\\manager') {
                if (self::$booting) {
                    return;
                }
                // Let the other autoloaders load Illuminate's class, then give it the scratch
                // database (a module may use Illuminate's Manager directly).
                foreach (spl_autoload_functions() as $f) {
                    if ($f === self::$loader) {
                        continue;
                    }
                    call_user_func($f, $c);
                    if (class_exists($c, false)) {
                        break;
                    }
                }
                if (class_exists($c, false)) {
                    self::bootCapsule();
                }
                return;
            }
            $prefix = 'whmcs\\module\\server\\';
            if (strncmp($lc, $prefix, strlen($prefix)) === 0) {
                $rest = substr($c, strlen($prefix));
                $pos = strpos($rest, '\\');
                if ($pos === false) {
                    return;
                }
                $module = strtolower(substr($rest, 0, $pos));
                if (!preg_match('/^[a-z0-9_]+$/', $module)) {
                    return;
                }
                $path = rtrim(self::$module['modules_dir'], '/') . '/' . $module . '/lib/'
                    . str_replace('\\', '/', substr($rest, $pos + 1)) . '.php';
                if (is_file($path)) {
                    require_once $path;
                }
            }
        }

        /** WHMCS\Database\Capsule on a scratch SQLite database with the WHMCS tables. */
        public static function bootCapsule()
        {
            if (self::$capsuleBooted) {
                if (!class_exists('WHMCS\\Database\\Capsule', false)) {
                    class_alias('Illuminate\\Database\\Capsule\\Manager', 'WHMCS\\Database\\Capsule');
                }
                return;
            }
            self::$booting = true;
            $have = class_exists('Illuminate\\Database\\Capsule\\Manager');
            self::$booting = false;
            if (!$have) {
                throw new \RuntimeException('WHMCS\\Database\\Capsule needs illuminate/database '
                    . '(Debian: php-illuminate-database), which is not installed');
            }
            self::$capsuleBooted = true;
            touch(self::$dbFile);
            $m = new \Illuminate\Database\Capsule\Manager();
            $m->addConnection(array('driver' => 'sqlite', 'database' => self::$dbFile,
                'prefix' => '', 'foreign_key_constraints' => false));
            $m->setAsGlobal();
            $m->bootEloquent();
            if (!class_exists('WHMCS\\Database\\Capsule', false)) {
                class_alias('Illuminate\\Database\\Capsule\\Manager', 'WHMCS\\Database\\Capsule');
            }
            $pdo = $m->getConnection()->getPdo();
            $pdo->exec(self::schema());
            $row = isset(self::$input['server_row']) && is_array(self::$input['server_row'])
                ? self::$input['server_row'] : array();
            if (isset($row['password'])) {
                $row['password'] = encrypt((string) $row['password']);
            }
            self::insert($pdo, 'tblservers', self::serverColumns(), array($row));
            self::insert($pdo, 'tblproducts', self::productColumns(),
                isset(self::$input['products']) ? self::$input['products'] : array());
            $hosting = isset(self::$input['hosting']) ? self::$input['hosting'] : array();
            if (is_array($hosting)) {
                foreach ($hosting as $i => $h) {
                    if (is_array($h) && isset($h['password'])) {
                        $hosting[$i]['password'] = encrypt((string) $h['password']);
                    }
                }
            }
            self::insert($pdo, 'tblhosting', self::hostingColumns(), $hosting);
        }

        private static function insert(\PDO $pdo, $table, array $columns, $rows)
        {
            if (!is_array($rows)) {
                return;
            }
            foreach ($rows as $row) {
                if (!is_array($row)) {
                    continue;
                }
                $row = array_intersect_key($row, array_flip($columns));
                if (!$row) {
                    continue;
                }
                $names = array_keys($row);
                $sql = 'INSERT INTO ' . $table . ' (' . implode(', ', $names) . ') VALUES ('
                    . implode(', ', array_fill(0, count($names), '?')) . ')';
                $values = array();
                foreach ($row as $v) {
                    $values[] = is_bool($v) ? (int) $v : (is_scalar($v) || $v === null ? $v
                        : json_encode($v));
                }
                $pdo->prepare($sql)->execute($values);
            }
        }

        public static function serverColumns()
        {
            return array('id', 'name', 'ipaddress', 'assignedips', 'hostname', 'monthlycost',
                'noc', 'statusaddress', 'nameserver1', 'nameserver1ip', 'nameserver2',
                'nameserver2ip', 'nameserver3', 'nameserver3ip', 'nameserver4', 'nameserver4ip',
                'nameserver5', 'nameserver5ip', 'maxaccounts', 'type', 'username', 'password',
                'accesshash', 'secure', 'port', 'active', 'disabled');
        }

        public static function productColumns()
        {
            $c = array('id', 'type', 'gid', 'name', 'slug', 'description', 'hidden',
                'showdomainoptions', 'welcomeemail', 'stockcontrol', 'qty', 'paytype',
                'autosetup', 'servertype', 'servergroup', 'retired', 'created_at', 'updated_at');
            for ($i = 1; $i <= 24; $i++) {
                $c[] = 'configoption' . $i;
            }
            return $c;
        }

        public static function hostingColumns()
        {
            return array('id', 'userid', 'orderid', 'packageid', 'server', 'regdate', 'domain',
                'paymentmethod', 'firstpaymentamount', 'amount', 'billingcycle', 'nextduedate',
                'nextinvoicedate', 'termination_date', 'completed_date', 'domainstatus',
                'username', 'password', 'notes', 'subscriptionid', 'promoid', 'suspendreason',
                'overideautosuspend', 'overidesuspenduntil', 'dedicatedip', 'assignedips', 'ns1',
                'ns2', 'diskusage', 'disklimit', 'bwusage', 'bwlimit', 'lastupdate',
                'created_at', 'updated_at');
        }

        /** The WHMCS table shapes modules read (column names and types as WHMCS has them). */
        private static function schema()
        {
            $products = '';
            for ($i = 1; $i <= 24; $i++) {
                $products .= ", configoption$i TEXT NOT NULL DEFAULT ''";
            }
            $ns = '';
            for ($i = 1; $i <= 5; $i++) {
                $ns .= ", nameserver$i TEXT NOT NULL DEFAULT '', nameserver{$i}ip TEXT NOT NULL DEFAULT ''";
            }
            return "CREATE TABLE tblservers (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                . " name TEXT NOT NULL DEFAULT '', ipaddress TEXT NOT NULL DEFAULT '',"
                . " assignedips TEXT NOT NULL DEFAULT '', hostname TEXT NOT NULL DEFAULT '',"
                . " monthlycost DECIMAL(10,2) NOT NULL DEFAULT 0, noc TEXT NOT NULL DEFAULT '',"
                . " statusaddress TEXT NOT NULL DEFAULT ''$ns,"
                . " maxaccounts INTEGER NOT NULL DEFAULT 0, type TEXT NOT NULL DEFAULT '',"
                . " username TEXT NOT NULL DEFAULT '', password TEXT NOT NULL DEFAULT '',"
                . " accesshash TEXT NOT NULL DEFAULT '', secure TEXT NOT NULL DEFAULT '',"
                . " port INTEGER NULL, active INTEGER NOT NULL DEFAULT 0,"
                . " disabled INTEGER NOT NULL DEFAULT 0);\n"
                . "CREATE TABLE tblproducts (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                . " type TEXT NOT NULL DEFAULT 'hostingaccount', gid INTEGER NOT NULL DEFAULT 0,"
                . " name TEXT NOT NULL DEFAULT '', slug TEXT NOT NULL DEFAULT '',"
                . " description TEXT NOT NULL DEFAULT '', hidden INTEGER NOT NULL DEFAULT 0,"
                . " showdomainoptions INTEGER NOT NULL DEFAULT 0,"
                . " welcomeemail INTEGER NOT NULL DEFAULT 0, stockcontrol INTEGER NOT NULL DEFAULT 0,"
                . " qty INTEGER NOT NULL DEFAULT 0, paytype TEXT NOT NULL DEFAULT '',"
                . " autosetup TEXT NOT NULL DEFAULT '', servertype TEXT NOT NULL DEFAULT '',"
                . " servergroup INTEGER NOT NULL DEFAULT 0$products,"
                . " retired INTEGER NOT NULL DEFAULT 0, created_at TEXT NULL, updated_at TEXT NULL);\n"
                . "CREATE TABLE tblhosting (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                . " userid INTEGER NOT NULL DEFAULT 0, orderid INTEGER NOT NULL DEFAULT 0,"
                . " packageid INTEGER NOT NULL DEFAULT 0, server INTEGER NOT NULL DEFAULT 0,"
                . " regdate DATE NULL, domain TEXT NOT NULL DEFAULT '',"
                . " paymentmethod TEXT NOT NULL DEFAULT '',"
                . " firstpaymentamount DECIMAL(16,2) NOT NULL DEFAULT 0,"
                . " amount DECIMAL(16,2) NOT NULL DEFAULT 0, billingcycle TEXT NOT NULL DEFAULT '',"
                . " nextduedate DATE NULL, nextinvoicedate DATE NULL, termination_date DATE NULL,"
                . " completed_date DATE NULL, domainstatus TEXT NOT NULL DEFAULT 'Pending',"
                . " username TEXT NOT NULL DEFAULT '', password TEXT NOT NULL DEFAULT '',"
                . " notes TEXT NOT NULL DEFAULT '', subscriptionid TEXT NOT NULL DEFAULT '',"
                . " promoid INTEGER NOT NULL DEFAULT 0, suspendreason TEXT NOT NULL DEFAULT '',"
                . " overideautosuspend INTEGER NOT NULL DEFAULT 0, overidesuspenduntil DATE NULL,"
                . " dedicatedip TEXT NOT NULL DEFAULT '', assignedips TEXT NOT NULL DEFAULT '',"
                . " ns1 TEXT NOT NULL DEFAULT '', ns2 TEXT NOT NULL DEFAULT '',"
                . " diskusage INTEGER NOT NULL DEFAULT 0, disklimit INTEGER NOT NULL DEFAULT 0,"
                . " bwusage INTEGER NOT NULL DEFAULT 0, bwlimit INTEGER NOT NULL DEFAULT 0,"
                . " lastupdate TEXT NULL, created_at TEXT NULL, updated_at TEXT NULL);\n";
        }

        /** Whether $a is an array of scalars keyed 0..n-1 (a list of values to mask). */
        public static function isMaskList($a)
        {
            if (!is_array($a)) {
                return false;
            }
            $i = 0;
            foreach ($a as $k => $v) {
                if ($k !== $i++ || !(is_scalar($v) || $v === null)) {
                    return false;
                }
            }
            return true;
        }

        /** The main flow; sets self::$outcome when it finished (normally or by an exception). */
        public static function main(array $argv)
        {
            if (count($argv) < 6) {
                fwrite(STDERR, "serversync shim: usage: shim.php MODE OUTCOME RESULT LOG DB\n");
                exit(64);
            }
            list(, self::$mode, self::$outcomeFile, self::$resultFile, self::$logFile, self::$dbFile)
                = $argv;
            register_shutdown_function(array(__CLASS__, 'finish'));
            $raw = stream_get_contents(STDIN);
            $input = is_string($raw) ? json_decode($raw, true, 64) : null;
            unset($raw);
            if (!is_array($input) || !isset($input['module']['name'], $input['module']['file'])) {
                self::$module = array('modules_dir' => '');
                self::$outcome = array('kind' => 'input', 'message' => 'the shim input is not valid');
                return;
            }
            self::$input = $input;
            self::$module = $input['module'];
            self::$secrets = array();
            foreach (isset($input['secrets']) ? (array) $input['secrets'] : array() as $s) {
                if (is_string($s) && $s !== '') {
                    self::$secrets[] = $s;
                    self::$secrets[] = encrypt($s);
                }
            }
            define('WHMCS', true);
            define('ROOTDIR', (string) self::$module['root']);
            $GLOBALS['CONFIG'] = array('SystemURL' => 'http://localhost/', 'Language' => 'english',
                'Charset' => 'utf-8', 'DateFormat' => 'YYYY-MM-DD', 'Version' => '8.0.0',
                'CompanyName' => 'serversync');
            $GLOBALS['_LANG'] = array();
            $_SERVER['SERVER_NAME'] = 'localhost';
            self::$loader = array(__CLASS__, 'autoload');
            spl_autoload_register(self::$loader, true, true);
            $name = (string) self::$module['name'];
            $params = isset($input['params']) && is_array($input['params']) ? $input['params'] : array();
            ob_start(array(__CLASS__, 'swallow'), 4096);
            try {
                $vendor = isset(self::$module['vendor_autoload']) ? self::$module['vendor_autoload'] : null;
                if (is_string($vendor) && $vendor !== '') {
                    // The WHMCS installation's own libraries, as the module would have them.
                    require_once $vendor;
                } else {
                    // Debian's packages of the libraries WHMCS ships (on the include path).
                    foreach (array('GuzzleHttp/autoload.php', 'Carbon/autoload.php',
                        'Illuminate/Database/autoload.php') as $lib) {
                        $path = stream_resolve_include_path($lib);
                        if ($path !== false) {
                            require_once $path;
                        }
                    }
                }
                \serversync_include_module((string) self::$module['file']);
                if (self::$mode === 'meta') {
                    $meta = null;
                    if (function_exists($name . '_MetaData')) {
                        $meta = call_user_func($name . '_MetaData');
                    }
                    self::$outcome = array('kind' => 'ok',
                        'meta' => $meta,
                        'has_meta_data' => function_exists($name . '_MetaData'),
                        'has_list_accounts' => function_exists($name . '_ListAccounts'));
                } else {
                    $fn = $name . '_ListAccounts';
                    if (!function_exists($fn)) {
                        self::$outcome = array('kind' => 'load',
                            'message' => "the module defines no $fn function");
                        return;
                    }
                    $ret = call_user_func($fn, $params);
                    if (is_array($ret) && isset($ret['accounts']) && is_array($ret['accounts'])) {
                        // WHMCS iterates the accounts: keys carry no meaning, the values are
                        // the list (a module may key them by username).
                        $ret['accounts'] = array_values($ret['accounts']);
                    }
                    $json = json_encode($ret, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE
                        | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PRESERVE_ZERO_FRACTION);
                    if (!is_string($json)) {
                        self::$outcome = array('kind' => 'protocol', 'message' =>
                            'the return value of ' . $fn . '() cannot be encoded as JSON: '
                            . json_last_error_msg());
                        return;
                    }
                    if (@file_put_contents(self::$resultFile, $json) !== strlen($json)) {
                        self::$outcome = array('kind' => 'protocol',
                            'message' => 'the shim could not write the result file');
                        return;
                    }
                    self::$outcome = array('kind' => 'ok');
                }
            } catch (\Throwable $e) {
                self::$outcome = self::failure($e);
            }
        }
    }
}

namespace {
    use Serversync\Shim;

    /**
     * Includes the module at function scope, as WHMCS does: its top-level variables are
     * local, its functions and classes global.
     */
    function serversync_include_module($file)
    {
        require_once $file;
    }

    /**
     * WHMCS's module log. Accepts 4, 5 or 6 arguments; the last, when it is a list of values
     * (6 arguments, or 5 with a list), names values to mask. Lines go to the shim's log file
     * with the masked values and the server's secrets replaced.
     */
    function logModuleCall($module, $action, $requestString = '', $responseData = '',
        $processedData = '', $replaceVars = array())
    {
        $n = func_num_args();
        $mask = array();
        if ($n >= 6 && is_array($replaceVars)) {
            $mask = $replaceVars;
        } elseif ($n === 5 && Shim::isMaskList($processedData)) {
            $mask = $processedData;
            $processedData = '';
        }
        Shim::log(array(
            'module' => Shim::logText($module, $mask),
            'action' => Shim::logText($action, $mask),
            'request' => Shim::logText($requestString, $mask),
            'response' => Shim::logText($responseData, $mask),
            'data' => Shim::logText($processedData, $mask),
        ));
    }

    /** WHMCS's activity log: kept as a debug line. */
    function logActivity($message, $userId = 0)
    {
        Shim::log(array('activity' => Shim::logText($message, array())));
    }

    /** Hooks do not run while listing; a module's hooks.php may still register them. */
    function add_hook($hookPoint, $priority, $function)
    {
    }

    /** The shim's own reversible encoding (not WHMCS's cipher): `ssenc1:` + hex. */
    function encrypt($string)
    {
        return Shim::ENC_PREFIX . bin2hex((string) $string);
    }

    /** Reverses encrypt(); any other value is returned as it is. */
    function decrypt($string)
    {
        $s = (string) $string;
        $p = Shim::ENC_PREFIX;
        if (strncmp($s, $p, strlen($p)) === 0) {
            $hex = substr($s, strlen($p));
            if (preg_match('/^(?:[0-9a-fA-F]{2})*$/', $hex)) {
                return (string) hex2bin($hex);
            }
        }
        return $s;
    }

    function localAPI($command, $values = array(), $adminUser = '')
    {
        Shim::unsupported('localAPI');
    }

    function select_query($table, $fields, $where = array(), $orderby = '', $orderbyorder = '', $limit = '', $innerjoin = '')
    {
        Shim::unsupported('select_query');
    }

    function full_query($query)
    {
        Shim::unsupported('full_query');
    }

    function insert_query($table, $values)
    {
        Shim::unsupported('insert_query');
    }

    function update_query($table, $values, $where)
    {
        Shim::unsupported('update_query');
    }

    function get_query_val($table, $field, $where, $orderby = '', $orderbyorder = '', $limit = '', $innerjoin = '')
    {
        Shim::unsupported('get_query_val');
    }

    function get_query_vals($table, $fields, $where, $orderby = '', $orderbyorder = '', $limit = '', $innerjoin = '')
    {
        Shim::unsupported('get_query_vals');
    }

    function sendMessage($template, $relatedId, $extra = array())
    {
        Shim::unsupported('sendMessage');
    }

    function sendAdminMessage($template, $vars = array(), $to = 'system')
    {
        Shim::unsupported('sendAdminMessage');
    }

    function getClientsDetails($userId = 0, $contactId = 0)
    {
        Shim::unsupported('getClientsDetails');
    }

    unset($argc);
    $serversyncArgv = $argv;
    unset($argv, $_SERVER['argv'], $_SERVER['argc'], $GLOBALS['argv']);
    date_default_timezone_set('UTC');
    error_reporting(E_ALL);
    ini_set('display_errors', 'stderr');
    Shim::main($serversyncArgv);
    unset($serversyncArgv);
}
