#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
extern unsigned long long tim_v[64]; extern long tim_f[64]; extern const char *tim_n[64]; extern int tim_k;
static inline void TIM(const char *n){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); if(tim_k<64){tim_n[tim_k]=n; struct rusage ru; getrusage(RUSAGE_SELF,&ru); tim_f[tim_k]=ru.ru_minflt; tim_v[tim_k++]=t.tv_sec*1000000000ull+t.tv_nsec;}}
void tim_dump(void);
