import pino from 'pino';
import { installTemporalRuntime } from '../../runtime/temporal-runtime';

// Test output shows failures, not worker state changes: the SDK logs errors only, as JSON.
installTemporalRuntime(pino({ level: process.env.TEST_LOG_LEVEL ?? 'error' }), 'ERROR');
